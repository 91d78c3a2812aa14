using System.Globalization;

namespace Engine.Backup.Containers.Tar;

/// <summary>The decimal numbers of pax records and sparse maps: plain ASCII digits, no sign for non-negatives.</summary>
internal static class TarDecimal
{
    /// <summary>Longest text a <see cref="long"/> needs.</summary>
    public const int MaxLength = 20;

    public static int Digits(long value)
    {
        var digits = 1;
        while (value >= 10)
        {
            value /= 10;
            digits++;
        }

        return digits;
    }

    public static int Write(Span<byte> destination, long value)
    {
        value.TryFormat(destination, out var written, default, CultureInfo.InvariantCulture);
        return written;
    }
}
