using Engine.Backup.Repository.Formats;

namespace Engine.Backup.Containers.Walking;

/// <summary>
/// The previous backup's catalog, looked up by path as the walk goes: both are in archive order, so a lookup is a
/// step of a merge (no index of every path). Asked out of order, it misses (the file is read), never answers wrong.
/// </summary>
internal sealed class ReferenceCursor(Catalog catalog)
{
    private int _next;

    /// <summary>The reference catalog.</summary>
    public Catalog Catalog { get; } = catalog;

    /// <summary>The index of the reference's entry at <paramref name="path"/>, or -1; passes over every entry before it.</summary>
    public int Find(string path)
    {
        var entries = Catalog.Entries;
        while (_next < entries.Count)
        {
            var order = ArchivePathComparer.Instance.Compare(entries[_next].Path, path);
            if (order > 0)
            {
                return -1;
            }

            _next++;
            if (order == 0)
            {
                return _next - 1;
            }
        }

        return -1;
    }
}
