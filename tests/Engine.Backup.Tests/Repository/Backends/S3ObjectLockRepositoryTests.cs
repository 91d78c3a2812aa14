using Engine.Backup.Repository;
using Engine.Backup.Repository.Backends;
using Engine.Backup.Repository.ChunkObjects;
using Engine.Backup.Repository.Snapshots;
using Engine.Backup.Repository.Storage;
using Engine.Backup.Restore;
using Engine.Backup.S3;
using Engine.Backup.Tests.Storage.S3;
using Engine.Backup.VmBackup;
using Engine.Sources;

namespace Engine.Backup.Tests.Repository.Backends;

/// <summary>
/// Object Lock on a repository made with a retention: every object a snapshot references is locked until the
/// snapshot's expiry, reused chunks included, so a client holding delete rights cannot destroy it before then.
/// </summary>
[Collection(CephGateway.Collection)]
public sealed class S3ObjectLockRepositoryTests(CephGateway gateway) : IDisposable
{
    private const int Chunk = 4 << 20;
    private static readonly CancellationToken None = CancellationToken.None;
    private readonly TempDir _dir = new();

    [Fact]
    public async Task An_incremental_whose_chunks_are_locked_long_enough_sends_no_retention_requests()
    {
        var backend = new Engine.Backup.Tests.Storage.InstrumentedObjectStore(await S3Stores.CreateAsync(gateway, new S3RetentionSettings(1), "slack"));
        using var repository = await BackupRepository.OpenAsync(backend, S3RepositoryTests.Settings(retainDays: 1), None);
        var disk = _dir["slack.raw"];
        await File.WriteAllBytesAsync(disk, TempRepository.Random(3 * Chunk, 43));
        await BackupAsync(repository, disk);
        Assert.Equal(3, backend.Extends);
        await Task.Delay(1100);

        var second = await BackupAsync(repository, disk); // reuses every chunk, locked a day beyond the first's expiry

        Assert.Equal(3, backend.Extends);
        Assert.Empty((await repository.VerifyAsync(second.Id, null, None, rehash: false)).BadChunks);
    }

    [Fact]
    public async Task A_locked_snapshots_objects_cannot_be_deleted_forget_prune_and_gc_skip_them_and_it_still_restores()
    {
        var backend = await S3Stores.CreateAsync(gateway, new S3RetentionSettings(1), "locked");
        var location = backend.Repository;
        using var repository = await BackupRepository.OpenAsync(backend, S3RepositoryTests.Settings(retainDays: 1), None);
        var disk = _dir["disk.raw"];
        await File.WriteAllBytesAsync(disk, TempRepository.Random(3 * Chunk, 41));
        var first = await BackupAsync(repository, disk);
        await Task.Delay(1100); // the second snapshot's second differs, so its retention date does too
        var second = await BackupAsync(repository, disk); // reuses every chunk of the first
        var expiry = second.Id.Time.AddDays(1);

        await using var raw = await S3Stores.OpenAsync(gateway, location);
        var chunks = repository.ReadIndex(second.Id, "drive-scsi0").Digests.ToArray().Where(d => !d.IsZero).ToArray();
        foreach (var digest in chunks)
        {
            // The reused chunk's retention covers the newer snapshot's expiry (extended with a day's slack at the first).
            var head = await raw.HeadAsync(ObjectChunkStore.NameOf(digest).Key, None);
            Assert.NotNull(head?.ObjectLockRetainUntilDate);
            Assert.InRange(new DateTimeOffset(head.ObjectLockRetainUntilDate.Value.ToUniversalTime()), expiry.AddSeconds(-2), expiry.AddDays(1).AddSeconds(2));

            // Deleting the chunk's object versions is refused by the gateway.
            await Assert.ThrowsAsync<ObjectLockedException>(async () => await raw.RemoveAsync(ObjectChunkStore.NameOf(digest), None));
        }

        foreach (var file in (string[])["manifest.json", "drive-scsi0.index"])
        {
            await Assert.ThrowsAsync<ObjectLockedException>(async () => await raw.RemoveAsync(ObjectSnapshotStorage.NameOf(first.Id, file), None));
        }

        var forget = Assert.Throws<SnapshotLockedException>(() => repository.DeleteSnapshot(first.Id));
        Assert.Contains(first.Id.ToString(), forget.Message, StringComparison.Ordinal);
        Assert.Contains("Object Lock", forget.Message, StringComparison.Ordinal);

        var prune = repository.Prune(new PruneOptions { KeepLast = 1 });
        Assert.Equal([first.Id], prune.Locked);
        Assert.Equal(0, prune.Removed);

        var gc = await repository.CollectGarbageAsync(None);
        Assert.Equal(0, gc.ChunksRemoved);

        Assert.Equal([first.Id, second.Id], repository.ListSnapshots().Select(m => m.Id));
        foreach (var id in (SnapshotId[])[first.Id, second.Id])
        {
            var target = _dir[$"restore-{id.Time.ToUnixTimeSeconds()}.raw"];
            await SnapshotRestorer.RestoreAsync(repository, id, "drive-scsi0", target);
            (await Tool.RunAsync("qemu-img", "compare", "-f", "raw", "-F", "raw", disk, target)).AssertSuccess();
        }
    }

    private static async Task<SnapshotManifest> BackupAsync(BackupRepository repository, string path)
    {
        await using var source = FileVolumeSource.Open("drive-scsi0", path, null, null, discard: false);
        return await new VmBackupEngine(repository).BackupAsync(new VmBackupRequest { Vmid = "500", Volumes = [source] }, new VmBackupOptions { Parallelism = 4 });
    }

    public void Dispose() => _dir.Dispose();
}
