using System.Globalization;

namespace Engine.Ova.Ovf;

/// <summary>
/// DSP0004 programmatic units as OVF writers use them: <c>byte</c>, <c>byte * 2^30</c>, <c>byte*1024^3</c>,
/// <c>byte * 10^9</c>, and VirtualBox's <c>MegaBytes</c>/<c>GigaBytes</c>.
/// </summary>
internal static class ProgrammaticUnits
{
    /// <summary>The number of bytes one unit stands for; a missing unit is one byte (the OVF default for capacities).</summary>
    public static bool TryParseMultiplier(string? units, out long multiplier)
    {
        multiplier = 1;
        var text = units?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            return true;
        }

        switch (text.ToLowerInvariant())
        {
            case "byte" or "bytes" or "b":
                return true;
            case "kilobytes" or "kb" or "kib":
                multiplier = 1L << 10;
                return true;
            case "megabytes" or "mb" or "mib":
                multiplier = 1L << 20;
                return true;
            case "gigabytes" or "gb" or "gib":
                multiplier = 1L << 30;
                return true;
            case "terabytes" or "tb" or "tib":
                multiplier = 1L << 40;
                return true;
        }

        var compact = text.Replace(" ", string.Empty, StringComparison.Ordinal).ToLowerInvariant();
        if (!compact.StartsWith("byte*", StringComparison.Ordinal))
        {
            return false;
        }

        var power = compact["byte*".Length..];
        var caret = power.IndexOf('^', StringComparison.Ordinal);
        if (caret <= 0)
        {
            return long.TryParse(power, NumberStyles.None, CultureInfo.InvariantCulture, out multiplier) && multiplier > 0;
        }

        if (!long.TryParse(power.AsSpan(0, caret), NumberStyles.None, CultureInfo.InvariantCulture, out var @base)
            || !int.TryParse(power.AsSpan(caret + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var exponent)
            || @base < 2 || exponent > 62)
        {
            return false;
        }

        long value = 1;
        for (var i = 0; i < exponent; i++)
        {
            if (value > long.MaxValue / @base)
            {
                return false;
            }

            value *= @base;
        }

        multiplier = value;
        return true;
    }
}
