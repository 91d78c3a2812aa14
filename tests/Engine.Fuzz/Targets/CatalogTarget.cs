using Engine.Backup;
using Engine.Backup.Containers;
using Engine.Backup.Repository.Formats;
using Engine.Fuzz.Support;
using Engine.Sources;

namespace Engine.Fuzz.Targets;

/// <summary>
/// The container archive catalog reader, both ways the repository reads it: whole (restore) and digests only
/// (gc, verify, import). The trailer is recomputed (see <see cref="Checksums"/>). What the reader accepts must be
/// restorable: every data extent inside its file.
/// </summary>
internal sealed class CatalogTarget : IFuzzTarget
{
    public string Name => "catalog";

    public string Description => "container archive catalog (ENGCTCAT entries, extents, xattrs, chunk list, XxHash3 trailer recomputed)";

    public void Run(ReadOnlySpan<byte> input)
    {
        var path = Scratch.Write("archive.catalog", Checksums.WithXxHash3Trailer(input));
        try
        {
            CheckExtents(CatalogReader.Read(path, expectedChecksum: null));
        }
        catch (RepositoryCorruptException)
        {
        }

        try
        {
            CatalogReader.ForEachDigest(path, expectedChecksum: null, _ => { });
        }
        catch (RepositoryCorruptException)
        {
        }
    }

    /// <summary>
    /// A catalog the reader accepts is restored as it says: every data extent lies inside its file, and every data
    /// byte inside the chunks' data stream.
    /// </summary>
    private static void CheckExtents(Catalog catalog)
    {
        foreach (var entry in catalog.Entries)
        {
            // Without extents a regular file is dense: one extent over all of it, as restore reads it.
            IReadOnlyList<SourceRange> extents = entry.DataExtents ?? (entry.Kind == ContainerEntryKind.RegularFile && entry.Size > 0 ? [new SourceRange(0, entry.Size)] : []);
            foreach (var extent in extents)
            {
                if (extent.Offset < 0 || extent.Length <= 0 || extent.Offset > entry.Size - extent.Length)
                {
                    throw new InvalidOperationException($"{entry.Path}: the reader accepted the data extent {extent.Offset}+{extent.Length} of a {entry.Size}-byte file");
                }

                if (catalog.ContentOf(entry.Path) is { } content && content.Entry == entry &&
                    content.Locate(extent.Offset, out var position, out var run) &&
                    (position < 0 || run != extent.Length || position > catalog.Data.Length - run))
                {
                    throw new InvalidOperationException($"{entry.Path}: the reader accepted data at {position}+{run} of a {catalog.Data.Length}-byte data stream");
                }
            }
        }
    }
}
