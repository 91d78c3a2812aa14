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
        var rootX = x == ".";
        var rootY = y == ".";
        if (rootX || rootY)
        {
            return rootX == rootY ? 0 : rootX ? -1 : 1;
        }

        return CodePointComparer.Compare(x, y, separatorFirst: true);
    }
}
