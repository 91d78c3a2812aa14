namespace Engine.Blocks.Tar;

/// <summary>
/// The numeric header fields: zero-padded octal ending in NUL (what a writer stores), and on reading also space or
/// NUL padded octal and GNU base-256 (high bit of the first byte set, big-endian after it).
/// </summary>
internal static class UstarNumber
{
    /// <summary>Whether <paramref name="value"/> fits an octal field of <paramref name="fieldLength"/> bytes (one is the NUL).</summary>
    public static bool FitsOctal(long value, int fieldLength) =>
        value >= 0 && value < 1L << (3 * (fieldLength - 1));

    /// <summary>
    /// Zero-padded octal filling all but the last byte of <paramref name="field"/>, which becomes NUL; 0 when the
    /// value does not fit (it then travels in a pax record).
    /// </summary>
    public static void WriteOctal(Span<byte> field, long value)
    {
        if (!FitsOctal(value, field.Length))
        {
            value = 0;
        }

        for (var i = field.Length - 2; i >= 0; i--)
        {
            field[i] = (byte)('0' + (value & 7));
            value >>= 3;
        }

        field[^1] = 0;
    }

    /// <summary>Reads an octal or base-256 field; <paramref name="value"/> is meaningful only when the result is <see cref="UstarNumberStatus.Valid"/>.</summary>
    public static UstarNumberStatus TryParse(ReadOnlySpan<byte> field, out long value)
    {
        value = 0;
        if (field.IsEmpty)
        {
            return UstarNumberStatus.Valid;
        }

        if ((field[0] & 0x80) != 0)
        {
            return ParseBase256(field, out value);
        }

        var i = 0;
        while (i < field.Length && field[i] is (byte)' ' or 0)
        {
            i++;
        }

        for (; i < field.Length; i++)
        {
            var b = field[i];
            if (b is (byte)' ' or 0)
            {
                break;
            }

            if (b is < (byte)'0' or > (byte)'7')
            {
                return UstarNumberStatus.NotOctal;
            }

            if (value > (long.MaxValue >> 3))
            {
                return UstarNumberStatus.Overflow;
            }

            value = (value << 3) | (long)(b - '0');
        }

        return UstarNumberStatus.Valid;
    }

    private static UstarNumberStatus ParseBase256(ReadOnlySpan<byte> field, out long value)
    {
        value = 0;
        if (field[0] == 0xFF)
        {
            return UstarNumberStatus.NegativeBase256;
        }

        value = field[0] & 0x7F;
        for (var i = 1; i < field.Length; i++)
        {
            if (value > (long.MaxValue >> 8))
            {
                return UstarNumberStatus.Overflow;
            }

            value = (value << 8) | field[i];
        }

        return UstarNumberStatus.Valid;
    }
}
