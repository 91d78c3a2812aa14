using Engine.Backup;
using Engine.Backup.Repository.Formats;
using Engine.Fuzz.Support;

namespace Engine.Fuzz.Tests;

/// <summary>
/// Catalogs the reader once accepted although their extents or data stream overflowed a 64-bit offset: a restore
/// would have written data exabytes past a file's end or read it from before the stream's start. A staged catalog
/// comes from the container's unprivileged root, so these are hostile input, not just corruption.
/// </summary>
public sealed class CatalogRegressionTests : IDisposable
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), "engine-fuzz-test-" + Guid.NewGuid().ToString("N")[..10] + ".catalog");

    public void Dispose() => File.Delete(_path);

    [Theory]
    [InlineData("extent-offset-overflow.bin", "f: data extent 9223372036854775805+8 out of order or outside its 10 bytes")]
    [InlineData("data-stream-wraps.bin", "f1: 4611686018427387904 bytes of data after 4611686018427387904 overflow the data stream")]
    public void Overflowing_catalog_is_corrupt(string file, string reason)
    {
        // As the catalog target feeds it: the stored input with its XxHash3 trailer recomputed.
        File.WriteAllBytes(_path, Checksums.WithXxHash3Trailer(FuzzInputs.Read("Regressions/catalog/" + file)));

        var read = Assert.Throws<RepositoryCorruptException>(() => CatalogReader.Read(_path, expectedChecksum: null));
        var digests = Assert.Throws<RepositoryCorruptException>(() => CatalogReader.ForEachDigest(_path, expectedChecksum: null, _ => { }));

        Assert.Equal($"bad catalog {_path}: {reason}", read.Message);
        Assert.Equal(_path, digests.Path);
    }
}
