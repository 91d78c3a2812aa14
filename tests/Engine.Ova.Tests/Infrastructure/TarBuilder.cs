using System.Text;

namespace Engine.Ova.Tests.Infrastructure;

/// <summary>
/// Writes ustar archives byte by byte, so tests can make what GNU tar refuses to: traversal names, links named like
/// disks, sizes that lie, base-256 size fields.
/// </summary>
internal sealed class TarBuilder
{
    private readonly List<byte> _data = [];

    public TarBuilder File(string name, byte[] content, long? declaredSize = null, bool base256 = false)
    {
        Header(name, '0', declaredSize ?? content.Length, null, base256);
        _data.AddRange(content);
        Pad(content.Length);
        return this;
    }

    public TarBuilder Symlink(string name, string target)
    {
        Header(name, '2', 0, target, false);
        return this;
    }

    public TarBuilder HardLink(string name, string target)
    {
        Header(name, '1', 0, target, false);
        return this;
    }

    /// <summary>A pax extended header giving the next member's path.</summary>
    public TarBuilder PaxPath(string path) => Pax(("path", path));

    /// <summary>A pax extended header with these records, for the next member.</summary>
    public TarBuilder Pax(params (string Key, string Value)[] records)
    {
        var bytes = records.SelectMany(r => PaxRecord(r.Key, r.Value)).ToArray();
        Header("././@PaxHeader", 'x', bytes.Length, null, false);
        _data.AddRange(bytes);
        Pad(bytes.Length);
        return this;
    }

    /// <summary>A GNU long-name member for the next member.</summary>
    public TarBuilder GnuLongName(string name)
    {
        var bytes = Encoding.UTF8.GetBytes(name + "\0");
        Header("././@LongLink", 'L', bytes.Length, null, false, gnu: true);
        _data.AddRange(bytes);
        Pad(bytes.Length);
        return this;
    }

    /// <summary>The archive with its end marker; <paramref name="truncateTo"/> cuts it short.</summary>
    public byte[] Build(long? truncateTo = null)
    {
        var result = _data.Concat(new byte[1024]).ToArray();
        return truncateTo is { } length ? result[..(int)length] : result;
    }

    public string Save(string path, long? truncateTo = null)
    {
        System.IO.File.WriteAllBytes(path, Build(truncateTo));
        return path;
    }

    private void Header(string name, char type, long size, string? link, bool base256, bool gnu = false)
    {
        var block = new byte[512];
        Encoding.UTF8.GetBytes(name.Length > 100 ? name[..100] : name).CopyTo(block, 0);
        Octal(block, 100, 8, 420);
        Octal(block, 108, 8, 0);
        Octal(block, 116, 8, 0);
        if (base256)
        {
            block[124] = 0x80;
            for (var i = 0; i < 8; i++)
            {
                block[135 - i] = (byte)(size >> (8 * i));
            }
        }
        else
        {
            Octal(block, 124, 12, size);
        }

        Octal(block, 136, 12, 1_700_000_000);
        block[156] = (byte)type;
        if (link is not null)
        {
            Encoding.UTF8.GetBytes(link).CopyTo(block, 157);
        }

        (gnu ? "ustar  \0"u8 : "ustar\u000000"u8).CopyTo(block.AsSpan(257));
        for (var i = 148; i < 156; i++)
        {
            block[i] = (byte)' ';
        }

        var sum = 0;
        foreach (var b in block)
        {
            sum += b;
        }

        Octal(block, 148, 7, sum);
        block[155] = (byte)' ';
        _data.AddRange(block);
    }

    private static byte[] PaxRecord(string key, string value)
    {
        var body = $" {key}={value}\n";
        var length = body.Length + 1;
        while ((length.ToString(System.Globalization.CultureInfo.InvariantCulture) + body).Length != length)
        {
            length++;
        }

        return Encoding.UTF8.GetBytes(length.ToString(System.Globalization.CultureInfo.InvariantCulture) + body);
    }

    private static void Octal(byte[] block, int offset, int width, long value)
    {
        var text = Convert.ToString(value, 8).PadLeft(width - 1, '0');
        Encoding.ASCII.GetBytes(text).CopyTo(block, offset);
        block[offset + width - 1] = 0;
    }

    private void Pad(long length)
    {
        var padding = (512 - (length % 512)) % 512;
        _data.AddRange(new byte[padding]);
    }
}
