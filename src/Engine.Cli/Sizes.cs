using System.Globalization;

namespace Engine.Cli;

/// <summary>Human-readable sizes: parses "64M", "4GiB", "512"; formats bytes as "1.5 GiB".</summary>
internal static class Sizes
{
    private static readonly string[] Units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

    /// <exception cref="FormatException">The text is not a size.</exception>
    public static long Parse(string text)
    {
        var trimmed = text.Trim();
        var end = 0;
        while (end < trimmed.Length && char.IsAsciiDigit(trimmed[end]))
        {
            end++;
        }

        if (end == 0 || !long.TryParse(trimmed.AsSpan(0, end), NumberStyles.None, CultureInfo.InvariantCulture, out var number))
        {
            throw new FormatException($"'{text}' is not a size");
        }

        var shift = trimmed[end..].ToUpperInvariant() switch
        {
            "" or "B" => 0,
            "K" or "KB" or "KIB" => 10,
            "M" or "MB" or "MIB" => 20,
            "G" or "GB" or "GIB" => 30,
            "T" or "TB" or "TIB" => 40,
            _ => throw new FormatException($"'{text}' has an unknown unit"),
        };
        return checked(number << shift);
    }

    public static string Format(long bytes)
    {
        double value = bytes;
        var unit = 0;
        while (value >= 1024 && unit < Units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return unit == 0 ? $"{bytes} B" : string.Create(CultureInfo.InvariantCulture, $"{value:0.#} {Units[unit]}");
    }
}
