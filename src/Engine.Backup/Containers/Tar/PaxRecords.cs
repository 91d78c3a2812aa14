using System.Buffers;
using System.Text;

namespace Engine.Backup.Containers.Tar;

/// <summary>
/// The records of one pax extended header (<c>"LENGTH KEY=VALUE\n"</c>, LENGTH counting the whole record in decimal,
/// its own digits included). Values are raw bytes, so xattr values with NULs or invalid UTF-8 pass untouched: GNU tar
/// reads a record by its length, never by scanning for the newline. One instance is reused for every member.
/// </summary>
internal sealed class PaxRecords
{
    private readonly ArrayBufferWriter<byte> _records = new(4096);
    private readonly ArrayBufferWriter<byte> _key = new(256);

    /// <summary>The records so far.</summary>
    public ReadOnlyMemory<byte> Written => _records.WrittenMemory;

    public int Length => _records.WrittenCount;

    public void Clear() => _records.ResetWrittenCount();

    /// <summary>Appends one record.</summary>
    public void Add(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        var withoutLength = key.Length + value.Length + 3; // ' ', '=', '\n'
        var digits = TarDecimal.Digits(withoutLength);
        if (TarDecimal.Digits(withoutLength + digits) > digits)
        {
            digits++;
        }

        var total = withoutLength + digits;
        var span = _records.GetSpan(total);
        var written = TarDecimal.Write(span, total);
        span[written++] = (byte)' ';
        key.CopyTo(span[written..]);
        written += key.Length;
        span[written++] = (byte)'=';
        value.CopyTo(span[written..]);
        written += value.Length;
        span[written++] = (byte)'\n';
        _records.Advance(written);
    }

    /// <summary>Appends a record with a decimal value.</summary>
    public void Add(ReadOnlySpan<byte> key, long value)
    {
        Span<byte> text = stackalloc byte[TarDecimal.MaxLength];
        Add(key, text[..TarDecimal.Write(text, value)]);
    }

    /// <summary>
    /// Appends a time as seconds with a nanosecond fraction (trailing zeros dropped); a time before the epoch is
    /// written as a negative decimal (<c>-0.5</c> is half a second before it), which is how GNU tar reads it.
    /// </summary>
    public void AddTime(ReadOnlySpan<byte> key, long nanoseconds)
    {
        Span<byte> text = stackalloc byte[TarDecimal.MaxLength + 12];
        var negative = nanoseconds < 0;
        var magnitude = negative ? -(Int128)nanoseconds : nanoseconds;
        var seconds = (long)(magnitude / 1_000_000_000);
        var fraction = (long)(magnitude % 1_000_000_000);
        var length = 0;
        if (negative)
        {
            text[length++] = (byte)'-';
        }

        length += TarDecimal.Write(text[length..], seconds);
        if (fraction != 0)
        {
            text[length++] = (byte)'.';
            for (var divisor = 100_000_000L; divisor > 0 && fraction != 0; divisor /= 10)
            {
                text[length++] = (byte)('0' + fraction / divisor);
                fraction %= divisor;
            }
        }

        Add(key, text[..length]);
    }

    /// <summary>
    /// Appends <c>SCHILY.xattr.NAME=VALUE</c>. GNU tar escapes <c>%</c> and <c>=</c> in the name as <c>%25</c> and
    /// <c>%3D</c> (a record key ends at the first <c>=</c>) and decodes them on extraction.
    /// </summary>
    public void AddXattr(string name, ReadOnlySpan<byte> value)
    {
        _key.ResetWrittenCount();
        _key.Write("SCHILY.xattr."u8);
        var nameBytes = _key.GetSpan(Encoding.UTF8.GetMaxByteCount(name.Length) * 3);
        var encoded = Encoding.UTF8.GetBytes(name, nameBytes);
        var escapes = 0;
        foreach (var b in nameBytes[..encoded])
        {
            if (b is (byte)'%' or (byte)'=')
            {
                escapes++;
            }
        }

        // Widen in place from the back so each byte moves once.
        var to = encoded + 2 * escapes;
        for (var from = encoded - 1; from >= 0; from--)
        {
            var b = nameBytes[from];
            if (b is (byte)'%' or (byte)'=')
            {
                nameBytes[--to] = b == '%' ? (byte)'5' : (byte)'D';
                nameBytes[--to] = b == '%' ? (byte)'2' : (byte)'3';
                nameBytes[--to] = (byte)'%';
            }
            else
            {
                nameBytes[--to] = b;
            }
        }

        _key.Advance(encoded + 2 * escapes);
        Add(_key.WrittenSpan, value);
    }
}
