using Xunit.Abstractions;
using static Engine.Backup.Tests.Storage.S3.S3CliSteps;

namespace Engine.Backup.Tests.Storage.S3;

/// <summary>
/// Two hosts backing up into one bucket at once: two <c>engine backup</c> processes, different VMs whose disks hold
/// mostly the same data. Both commit, the shared chunks are stored once, and both snapshots restore byte-exact.
/// </summary>
[Collection(CephGateway.Collection)]
public sealed class S3ConcurrentBackupTests(CephGateway gateway, ITestOutputHelper output) : IDisposable
{
    private const int DiskBytes = 48 << 20;

    private readonly TempDir _dir = new();

    [Fact]
    public async Task Two_processes_backing_up_mostly_equal_disks_at_once_both_commit_dedup_and_restore()
    {
        Assert.NotEmpty(gateway.Endpoint);
        var repo = await InitAsync("twohosts");
        var shared = Repository.TempRepository.Random(DiskBytes, 71);
        var (first, second) = (_dir["vm701.raw"], _dir["vm702.raw"]);
        await File.WriteAllBytesAsync(first, shared);
        // The second VM differs in 64 KiB in the middle: one chunk of its own, the rest shared.
        Repository.TempRepository.Random(64 << 10, 72).CopyTo(shared, DiskBytes / 2);
        await File.WriteAllBytesAsync(second, shared);

        var results = await Task.WhenAll(EngineCli.RunAsync(BackupArgs(repo, 701, first)), EngineCli.RunAsync(BackupArgs(repo, 702, second)));

        var snapshots = results.Select(result => SnapshotOf(result.AssertSuccess().Stdout)).ToArray();
        Assert.Equal(snapshots.Order(StringComparer.Ordinal), (await SnapshotsAsync(repo)).Order(StringComparer.Ordinal));

        // Random data does not compress: one copy of the disk is DiskBytes of chunks. Both processes may upload a chunk
        // the other has not committed yet (If-None-Match keeps one), so the bucket holds about one copy, not two.
        var (chunkBytes, chunks) = await StoredAsync(gateway, repo, "chunks/");
        output.WriteLine($"{chunks} chunks, {chunkBytes} bytes ({(double)chunkBytes / DiskBytes:F3} of one disk) for two {DiskBytes}-byte disks");
        Assert.True(chunkBytes >= DiskBytes, $"{chunkBytes} bytes of chunks for a {DiskBytes}-byte disk");
        Assert.True(chunkBytes <= DiskBytes * 1.25, $"{chunkBytes} bytes of chunks for two {DiskBytes}-byte disks that differ in 64 KiB: dedup did not hold");

        await AssertRestoresAsync(repo, snapshots[0], first, _dir["restored.raw"]);
        await AssertRestoresAsync(repo, snapshots[1], second, _dir["restored.raw"]);
        (await EngineCli.RunAsync("verify", "--repo", repo)).AssertSuccess();
    }

    public void Dispose() => _dir.Dispose();
}
