using System.Buffers.Binary;
using System.IO.Hashing;
using Engine.Backup.Containers.Archive;
using Engine.Backup.Repository.Formats;
using Engine.Backup.Tests.Repository;

namespace Engine.Backup.Tests.Containers;

/// <summary>
/// A catalog is read from disk: a damaged or crafted one (even with a valid checksum) must be reported as corrupt,
/// never crash the reader, GC or verify with another exception or a huge allocation.
/// </summary>
public sealed class CatalogHostileInputTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly TempRepository _repository = new();

    [Fact]
    public async Task Mutated_catalogs_with_valid_checksums_are_corrupt_or_consistent()
    {
        var root = _dir["root"];
        await ContainerTree.BuildAsync(root);
        var manifest = await ContainerBackupEngine.BackupAsync(_repository.Repository, new ContainerBackupRequest { Vmid = "120", Directory = root }, null, CancellationToken.None);
        var path = Path.Combine(_repository.Path, "snapshots/ct/120", manifest.Id.TimeText, "archive.catalog");
        var original = await File.ReadAllBytesAsync(path);
        var catalog = CatalogReader.Read(path, manifest.Archive!.CatalogChecksum);
        Assert.Equal(manifest.Archive.Entries, catalog.Entries.Count);

        var random = new Random(1234);
        var corrupt = 0;
        for (var i = 0; i < 1000; i++)
        {
            var bytes = (byte[])original.Clone();
            var mutations = 1 + random.Next(3);
            for (var m = 0; m < mutations; m++)
            {
                var at = random.Next(bytes.Length - sizeof(ulong));
                bytes[at] = random.Next(4) switch
                {
                    0 => 0xFF,
                    1 => 0,
                    2 => (byte)(bytes[at] ^ (1 << random.Next(8))),
                    _ => (byte)random.Next(256),
                };
            }

            // Truncate sometimes, then seal with a valid trailer: only the structure checks stand in the way.
            var length = random.Next(8) == 0 ? random.Next(16, bytes.Length) : bytes.Length;
            var sealedBytes = new byte[length];
            bytes.AsSpan(0, length - sizeof(ulong)).CopyTo(sealedBytes);
            BinaryPrimitives.WriteUInt64LittleEndian(sealedBytes.AsSpan(length - sizeof(ulong)), XxHash3.HashToUInt64(sealedBytes.AsSpan(0, length - sizeof(ulong))));
            await File.WriteAllBytesAsync(path, sealedBytes);
            try
            {
                CatalogReader.Read(path, null);
                CatalogReader.ForEachDigest(path, null, _ => { });
            }
            catch (RepositoryCorruptException)
            {
                corrupt++;
            }
        }

        Assert.True(corrupt > 300, $"only {corrupt} of 1000 mutations were caught");
    }

    public void Dispose()
    {
        _repository.Dispose();
        _dir.Dispose();
    }
}
