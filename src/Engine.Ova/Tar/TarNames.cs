namespace Engine.Ova.Tar;

/// <summary>Member names as an importer may trust them: relative, no <c>..</c>, no backslashes or NULs.</summary>
internal static class TarNames
{
    /// <summary>
    /// Strips leading <c>./</c> and duplicate slashes; returns null for names that are absolute, contain a <c>..</c> or
    /// <c>.</c> segment after that, a backslash, a NUL or a colon-prefixed URL scheme.
    /// </summary>
    public static string? Normalize(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0 || name[0] == '/' || name.Contains('\\', StringComparison.Ordinal) || name.Contains('\0', StringComparison.Ordinal)
            || name.Contains("://", StringComparison.Ordinal))
        {
            return null;
        }

        var segments = name.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var start = 0;
        while (start < segments.Length && segments[start] == ".")
        {
            start++;
        }

        if (start == segments.Length)
        {
            return null;
        }

        for (var i = start; i < segments.Length; i++)
        {
            if (segments[i] is "." or "..")
            {
                return null;
            }
        }

        return string.Join('/', segments, start, segments.Length - start);
    }

    /// <summary>Whether a normalised name is a macOS AppleDouble companion (<c>._name</c>), which importers skip.</summary>
    public static bool IsAppleDouble(string normalizedName)
    {
        ArgumentNullException.ThrowIfNull(normalizedName);
        var slash = normalizedName.LastIndexOf('/');
        return normalizedName.AsSpan(slash + 1).StartsWith("._", StringComparison.Ordinal);
    }
}
