namespace Engine.Backup.Containers.Walking;

/// <summary>
/// Orders archive paths as the walker emits them: the root (<c>.</c>) first, then depth-first with a directory before
/// its children and siblings by code point. That is a comparison component by component, so <c>/</c> ranks below
/// every other character (<c>a/b</c> comes before <c>a-b</c>, unlike an ordinal comparison).
/// </summary>
internal sealed class ArchivePathComparer : IComparer<string>
{
    public static ArchivePathComparer Instance { get; } = new();

    public int Compare(string? x, string? y)
    {
        if (x is null || y is null)
        {
            return x is null ? (y is null ? 0 : -1) : 1;
        }

        var rootX = x == ".";
        var rootY = y == ".";
        if (rootX || rootY)
        {
            return rootX == rootY ? 0 : rootX ? -1 : 1;
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
            if (a == '/' || b == '/')
            {
                return a == '/' ? -1 : 1;
            }

            return CodePointComparer.CompareUnits(a, b);
        }

        return x.Length.CompareTo(y.Length);
    }
}
