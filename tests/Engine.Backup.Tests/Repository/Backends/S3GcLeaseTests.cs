using System.Runtime.CompilerServices;
using System.Text;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Backends;
using Engine.Backup.Repository.Snapshots;
using Engine.Backup.Repository.Storage;
using Engine.Backup.Repository.Storage.Stack;
using Engine.Backup.Restore;
using Engine.Backup.S3;
using Engine.Backup.Tests.Storage.S3;
using Engine.Backup.VmBackup;
using Engine.Sources;

namespace Engine.Backup.Tests.Repository.Backends;

/// <summary>
/// Garbage collection against writers on S3 (docs/storage-protocol.md), with leases of seconds instead of 15 minutes:
/// gc keeps its leases alive however long it runs, a commit after a sweep waits for it, a writer whose lease lapsed
/// commits nothing, and a known-chunk cache never vouches for another repository at the same URL.
/// </summary>
[Collection(CephGateway.Collection)]
public sealed class S3GcLeaseTests(CephGateway gateway) : IDisposable
{
    private const int Chunk = 64 << 10;
    private const int DiskChunks = 8;
    private static readonly CancellationToken None = CancellationToken.None;
    private readonly TempDir _dir = new();

    private static ObjectRepositorySettings Settings(LeaseTimes times, string? cachePath = null, string? repositoryId = null) =>
        new() { ChunkSize = Chunk, CompressionLevel = 3, GcGrace = TimeSpan.Zero, LeaseTimes = times, CachePath = cachePath, RepositoryId = repositoryId };

    private string WriteDisk(string name, int seed)
    {
        var path = _dir[name];
        File.WriteAllBytes(path, TempRepository.Random(DiskChunks * Chunk, seed));
        return path;
    }

    private static async Task<SnapshotManifest> BackupAsync(BackupRepository repository, string path, string vmid)
    {
        await using var source = FileVolumeSource.Open("drive-scsi0", path, null, null, discard: false);
        return await new VmBackupEngine(repository).BackupAsync(new VmBackupRequest { Vmid = vmid, Volumes = [source] }, new VmBackupOptions { Parallelism = 2 });
    }

    private static async Task<string> EpochAsync(IObjectStore store) => await ObjectStoreStack.ReadGenerationAsync(store, None);

    [Fact]
    public async Task Gc_renews_its_sweep_lease_while_deleting_longer_than_the_expiry_and_raises_the_epoch_after()
    {
        var times = new LeaseTimes(Expiry: TimeSpan.FromSeconds(4), RenewEvery: TimeSpan.FromMilliseconds(500), SweepWait: TimeSpan.FromSeconds(60), SweepPoll: TimeSpan.FromMilliseconds(100));
        var slow = new SlowChunkRemovals(await S3Stores.CreateAsync(gateway, purpose: "gclease"));
        using var repository = await BackupRepository.OpenAsync(slow, Settings(times), None);
        var gone = await BackupAsync(repository, WriteDisk("gone.raw", 1), "301");
        repository.DeleteSnapshot(gone.Id);
        await Task.Delay(1100); // object stores stamp whole seconds: the chunks must be older than the collection
        var objects = repository.Objects!;

        // Each delete takes longer than a lease's expiry: a sweep lease written once would look dead halfway.
        slow.Hold = TimeSpan.FromSeconds(10);
        var gc = repository.CollectGarbageAsync(None);
        await slow.FirstRemoval.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await Task.Delay(times.Expiry + TimeSpan.FromSeconds(0.5));
        Assert.False(gc.IsCompleted, "the collection ended before the lease expiry passed");
        Assert.Equal(1, await objects.LiveLeasesAsync(ObjectSnapshotStorage.SweepLeasePrefix, None));

        var report = await gc;
        Assert.Equal(DiskChunks, report.ChunksRemoved);
        Assert.Equal(0, await objects.LiveLeasesAsync(ObjectSnapshotStorage.GcLeasePrefix, None));
        // Raised before the first delete and again after the last.
        Assert.Equal("2", await EpochAsync(objects.Store));
    }

    [Fact]
    public async Task Commit_after_the_epoch_moved_waits_until_no_sweep_lease_is_live()
    {
        var times = new LeaseTimes(Expiry: TimeSpan.FromSeconds(30), RenewEvery: TimeSpan.FromSeconds(5), SweepWait: TimeSpan.FromSeconds(60), SweepPoll: TimeSpan.FromMilliseconds(100));
        using var repository = await BackupRepository.OpenAsync(await S3Stores.CreateAsync(gateway, purpose: "gcwait"), Settings(times), None);
        var store = repository.Objects!.Store;
        await using var writer = repository.BeginSnapshot("vm", "302");

        // A sweep started after the writer read the epoch (as one whose lease the writer's LIST missed would).
        var sweep = new ObjectName(ObjectKind.Lock, ObjectSnapshotStorage.SweepLeasePrefix + "test");
        await store.SaveAsync(sweep, Encoding.UTF8.GetBytes("phase=sweep\n"), default, None);
        await store.SaveAsync(ObjectStoreStack.Epoch, Encoding.UTF8.GetBytes("1\n"), default, None);

        var commit = writer.CommitAsync(None);
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.False(commit.IsCompleted, "the commit went ahead while a sweep lease was live");
        Assert.Empty(repository.ListSnapshots("vm", "302"));

        Assert.True(await store.RemoveAsync(sweep, None));
        var manifest = await commit.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(manifest.Id, Assert.Single(repository.ListSnapshots("vm", "302")).Id);
    }

    [Fact]
    public async Task A_writer_whose_lease_went_unrenewed_past_its_expiry_commits_nothing()
    {
        // Renewals that never come are a paused process, or a store that refused them all.
        var times = new LeaseTimes(Expiry: TimeSpan.FromSeconds(1), RenewEvery: TimeSpan.FromHours(1), SweepWait: TimeSpan.FromSeconds(60), SweepPoll: TimeSpan.FromMilliseconds(100));
        using var repository = await BackupRepository.OpenAsync(await S3Stores.CreateAsync(gateway, purpose: "gclapse"), Settings(times), None);
        await using var writer = repository.BeginSnapshot("vm", "303");
        await Task.Delay(TimeSpan.FromSeconds(1.5));

        var e = await Assert.ThrowsAsync<RepositoryException>(() => writer.CommitAsync(None));
        Assert.Contains("locks/writer-", e.Message, StringComparison.Ordinal);
        Assert.Contains("not renewed", e.Message, StringComparison.Ordinal);
        Assert.Empty(repository.ListSnapshots("vm", "303"));
    }

    [Fact]
    public async Task A_bucket_emptied_and_initialised_again_at_the_same_url_gets_every_chunk_uploaded_again()
    {
        var location = S3RepositoryLocation.Parse($"s3://{CephGateway.NewBucketName("reinit")}/repo");
        var options = S3Stores.Options(gateway);
        var cache = _dir["chunks.known"];
        var disk = WriteDisk("disk.raw", 2);
        Assert.True((await S3Repository.InitializeAsync(location, options, null, None)).BucketCreated);
        using (var first = await S3Repository.OpenAsync(location, options, cache, None))
        {
            await BackupAsync(first, disk, "304");
        }

        // Empty the bucket behind the repository's back and make a new repository at the same URL.
        await using (var raw = await S3Stores.OpenAsync(gateway, location))
        {
            foreach (var kind in new[] { ObjectKind.Chunk, ObjectKind.Snapshot, ObjectKind.Lock })
            {
                await foreach (var info in raw.ListAsync(kind, None))
                {
                    await raw.RemoveAsync(info.Name, None);
                }
            }

            await raw.RemoveAsync(ObjectName.Config, None);
        }

        Assert.False((await S3Repository.InitializeAsync(location, options, null, None)).AlreadyRepository);
        SnapshotManifest second;
        using (var again = await S3Repository.OpenAsync(location, options, cache, None))
        {
            second = await BackupAsync(again, disk, "304");
        }

        using var reopened = await S3Repository.OpenAsync(location, options, cachePath: null, None);
        Assert.Empty((await reopened.VerifyAsync(null, null, None, rehash: false)).BadChunks);
        var target = _dir["restored.raw"];
        await SnapshotRestorer.RestoreAsync(reopened, second.Id, "drive-scsi0", target);
        (await Tool.RunAsync("qemu-img", "compare", "-f", "raw", "-F", "raw", disk, target)).AssertSuccess();
    }

    public void Dispose() => _dir.Dispose();

    /// <summary>A real store whose chunk deletes each take <see cref="Hold"/> longer (a slow sweep).</summary>
    private sealed class SlowChunkRemovals(IObjectStore inner) : IObjectStore
    {
        public TimeSpan Hold { get; set; }

        public TaskCompletionSource FirstRemoval { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string Location => inner.Location;

        public ObjectStoreCapabilities Capabilities => inner.Capabilities;

        public ValueTask<SaveOutcome> SaveAsync(ObjectName name, ReadOnlyMemory<byte> content, SaveOptions options, CancellationToken cancellationToken) =>
            inner.SaveAsync(name, content, options, cancellationToken);

        public ValueTask<int> LoadAsync(ObjectName name, long offset, Memory<byte> destination, CancellationToken cancellationToken) =>
            inner.LoadAsync(name, offset, destination, cancellationToken);

        public ValueTask<ObjectInfo?> StatAsync(ObjectName name, CancellationToken cancellationToken) => inner.StatAsync(name, cancellationToken);

        public async ValueTask<bool> RemoveAsync(ObjectName name, CancellationToken cancellationToken)
        {
            if (name.Kind == ObjectKind.Chunk && Hold > TimeSpan.Zero)
            {
                FirstRemoval.TrySetResult();
                await Task.Delay(Hold, cancellationToken);
            }

            return await inner.RemoveAsync(name, cancellationToken);
        }

        public ValueTask ExtendRetentionAsync(ObjectName name, DateTimeOffset retainUntil, ObjectLockMode mode, CancellationToken cancellationToken) =>
            inner.ExtendRetentionAsync(name, retainUntil, mode, cancellationToken);

        public async IAsyncEnumerable<ObjectInfo> ListAsync(ObjectKind kind, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await foreach (var info in inner.ListAsync(kind, cancellationToken))
            {
                yield return info;
            }
        }

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
