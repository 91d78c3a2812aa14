using System.Globalization;
using System.Text;

namespace Engine.Ova.Vmdk;

/// <summary>
/// A VMDK text descriptor (embedded in a sparse extent, or a descriptor-only file), parsed with a size cap. It is
/// only ever interpreted here: it is never handed to a tool that would open the host files it names.
/// </summary>
internal sealed class VmdkDescriptor
{
    /// <summary>Largest descriptor accepted, as in qemu (which reads at most 1 MiB).</summary>
    public const int MaxBytes = 1 << 20;

    private VmdkDescriptor(string createType, string? parentCid, string? parentFileNameHint, IReadOnlyList<VmdkExtent> extents)
    {
        CreateType = createType;
        ParentCid = parentCid;
        ParentFileNameHint = parentFileNameHint;
        Extents = extents;
    }

    /// <summary>The createType (<c>streamOptimized</c>, <c>monolithicSparse</c>, <c>monolithicFlat</c>...).</summary>
    public string CreateType { get; }

    /// <summary>parentCID; <c>ffffffff</c> means no parent.</summary>
    public string? ParentCid { get; }

    /// <summary>parentFileNameHint of a delta disk.</summary>
    public string? ParentFileNameHint { get; }

    /// <summary>The extents in order.</summary>
    public IReadOnlyList<VmdkExtent> Extents { get; }

    /// <summary>Whether the descriptor names a parent disk (a delta link to a host file).</summary>
    public bool HasParent => ParentFileNameHint is not null || (ParentCid is not null && !ParentCid.Equals("ffffffff", StringComparison.OrdinalIgnoreCase));

    /// <summary>Whether text starts like a VMDK descriptor file.</summary>
    public static bool LooksLikeDescriptor(ReadOnlySpan<byte> data)
    {
        var trimmed = data.TrimStart((byte)' ');
        return trimmed.StartsWith("# Disk DescriptorFile"u8) || trimmed.StartsWith("version="u8);
    }

    /// <summary>Parses a descriptor (NUL padding ignored).</summary>
    /// <exception cref="OvaFormatException">Too large, or an extent line is malformed.</exception>
    public static VmdkDescriptor Parse(ReadOnlySpan<byte> data, string sourceName)
    {
        if (data.Length > MaxBytes)
        {
            throw new OvaFormatException($"{sourceName}: VMDK descriptor of {data.Length} bytes is above the {MaxBytes}-byte limit");
        }

        var end = data.IndexOf((byte)0);
        var text = Encoding.UTF8.GetString(end < 0 ? data : data[..end]);
        var createType = string.Empty;
        string? parentCid = null;
        string? parentHint = null;
        var extents = new List<VmdkExtent>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim().TrimEnd('\r');
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            if (TryValue(line, "createType", out var value))
            {
                createType = value;
            }
            else if (TryValue(line, "parentCID", out value))
            {
                parentCid = value;
            }
            else if (TryValue(line, "parentFileNameHint", out value))
            {
                parentHint = value;
            }
            else if (line.StartsWith("RW ", StringComparison.Ordinal) || line.StartsWith("RDONLY ", StringComparison.Ordinal) || line.StartsWith("NOACCESS ", StringComparison.Ordinal))
            {
                extents.Add(ParseExtent(line, sourceName));
            }
        }

        return new VmdkDescriptor(createType, parentCid, parentHint, extents);
    }

    /// <summary>Checks an embedded descriptor: one SPARSE extent (the file itself), no parent.</summary>
    /// <exception cref="OvaFormatException">More extents, another type, or a parent link.</exception>
    public void ValidateEmbedded(string sourceName, ulong capacitySectors)
    {
        if (HasParent)
        {
            throw new OvaFormatException($"{sourceName}: the VMDK is a delta disk with parent '{ParentFileNameHint}' (parentCID {ParentCid}): refused, it would read a host file");
        }

        if (Extents.Count != 1 || !Extents[0].Type.Equals("SPARSE", StringComparison.OrdinalIgnoreCase))
        {
            throw new OvaFormatException($"{sourceName}: embedded descriptor must have exactly one SPARSE extent, found {Describe()}");
        }

        if (Extents[0].Sectors != (long)capacitySectors)
        {
            throw new OvaFormatException($"{sourceName}: descriptor extent has {Extents[0].Sectors} sectors, the header says {capacitySectors}");
        }
    }

    /// <summary>The extents for messages.</summary>
    public string Describe()
    {
        if (Extents.Count == 0)
        {
            return "no extents";
        }

        var parts = new List<string>(Extents.Count);
        foreach (var extent in Extents)
        {
            parts.Add($"{extent.Type} \"{extent.FileName}\"");
        }

        return string.Join(", ", parts);
    }

    private static bool TryValue(string line, string key, out string value)
    {
        value = string.Empty;
        if (!line.StartsWith(key, StringComparison.Ordinal))
        {
            return false;
        }

        var rest = line[key.Length..].TrimStart();
        if (rest.Length == 0 || rest[0] != '=')
        {
            return false;
        }

        value = rest[1..].Trim().Trim('"');
        return true;
    }

    private static VmdkExtent ParseExtent(string line, string sourceName)
    {
        // ACCESS SECTORS TYPE ["FILE" [OFFSET]]
        var quote = line.IndexOf('"', StringComparison.Ordinal);
        var head = (quote < 0 ? line : line[..quote]).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (head.Length < 3 || !long.TryParse(head[1], NumberStyles.None, CultureInfo.InvariantCulture, out var sectors))
        {
            throw new OvaFormatException($"{sourceName}: malformed extent line '{Shorten(line)}'");
        }

        string? file = null;
        long offset = 0;
        if (quote >= 0)
        {
            var close = line.IndexOf('"', quote + 1);
            if (close < 0)
            {
                throw new OvaFormatException($"{sourceName}: unterminated file name in extent line '{Shorten(line)}'");
            }

            file = line[(quote + 1)..close];
            var tail = line[(close + 1)..].Trim();
            if (tail.Length > 0 && !long.TryParse(tail, NumberStyles.None, CultureInfo.InvariantCulture, out offset))
            {
                throw new OvaFormatException($"{sourceName}: malformed extent offset in '{Shorten(line)}'");
            }
        }

        return new VmdkExtent(head[0], sectors, head[2], file, offset);
    }

    private static string Shorten(string text) => text.Length <= 120 ? text : text[..120] + "...";
}
