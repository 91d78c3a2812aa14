namespace Engine.Backup.Containers.Walking;

/// <summary>
/// Orders names by Unicode code point, which is the order of their UTF-8 bytes (the filesystem's own bytes):
/// <see cref="string.CompareOrdinal(string, string)"/> compares UTF-16 units and so puts U+10000 and above before
/// U+E000..U+FFFF.
/// </summary>
internal sealed class CodePointComparer : IComparer<string>
{
    public static CodePointComparer Instance { get; } = new();

    public int Compare(string? x, string? y) => Compare(x, y, separatorFirst: false);

    /// <summary>
    /// Compares by code point; with <paramref name="separatorFirst"/>, <c>/</c> ranks below every other character, so
    /// paths compare component by component (what <see cref="ArchivePathComparer"/> needs).
    /// </summary>
    public static int Compare(string? x, string? y, bool separatorFirst)
    {
        if (x is null || y is null)
        {
            return x is null ? (y is null ? 0 : -1) : 1;
        }

        var length = Math.Min(x.Length, y.Length);
        for (var i = 0; i < length; i++)
        {
            var a = x[i];
            var b = y[i];
            if (a == b)
            {
                continue;
            }

            // One component ended where the other goes on: the shorter name comes first.
            if (separatorFirst && (a == '/' || b == '/'))
            {
                return a == '/' ? -1 : 1;
            }

            return CompareUnits(a, b);
        }

        return x.Length.CompareTo(y.Length);
    }

    /// <summary>Orders the first two UTF-16 units where two strings differ, so the strings sort by code point.</summary>
    public static int CompareUnits(char a, char b)
    {
        // A surrogate (a code point above U+FFFF) outranks every other UTF-16 unit.
        var surrogateA = char.IsSurrogate(a);
        var surrogateB = char.IsSurrogate(b);
        if (surrogateA != surrogateB)
        {
            return surrogateA ? 1 : -1;
        }

        return a < b ? -1 : 1;
    }
}
