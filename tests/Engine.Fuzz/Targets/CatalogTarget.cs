using Engine.Backup.Containers.Archive;
using Engine.Backup.Repository;
using Engine.Fuzz.Support;

namespace Engine.Fuzz.Targets;

/// <summary>
/// The container archive catalog reader, both ways the repository reads it: whole (restore) and digests only
/// (gc, verify, import). The trailer is recomputed (see <see cref="Checksums"/>).
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
            CatalogReader.Read(path, expectedChecksum: null);
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
}
