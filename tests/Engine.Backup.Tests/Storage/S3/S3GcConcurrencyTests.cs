using static Engine.Backup.Tests.Storage.S3.S3CliSteps;

namespace Engine.Backup.Tests.Storage.S3;

/// <summary>
/// <c>engine gc</c> run while an <c>engine backup</c> process writes into the same bucket loses nothing: not the
/// chunks the running backup uploads or reuses, not the older snapshots', and not the chunks of a snapshot forgotten
/// just before that the running backup reuses (docs/storage-protocol.md, leases and the epoch).
/// </summary>
[Collection(CephGateway.Collection)]
public sealed class S3GcConcurrencyTests(CephGateway gateway) : IDisposable
{
    private const int DiskBytes = 48 << 20;

    private readonly TempDir _dir = new();

    [Fact]
    public async Task Gc_beside_a_running_backup_loses_nothing_also_right_after_a_forget()
    {
        Assert.NotEmpty(gateway.Endpoint);
        var repo = await InitAsync("gcbeside");
        var (old, current) = (_dir["old.raw"], _dir["current.raw"]);
        await File.WriteAllBytesAsync(old, Repository.TempRepository.Random(DiskBytes, 81));
        var oldSnapshot = await BackupAsync(repo, 801, old);
        await File.WriteAllBytesAsync(current, Repository.TempRepository.Random(DiskBytes, 82));
        var keptSnapshot = await BackupAsync(repo, 802, current);

        // A backup of new data, with gc started as soon as it runs.
        var fresh = _dir["fresh.raw"];
        await File.WriteAllBytesAsync(fresh, Repository.TempRepository.Random(DiskBytes, 83));
        var freshSnapshot = await BackupBesideGcAsync(repo, 803, fresh);

        // The old snapshot forgotten, then at once a backup of the same data (its chunks are now garbage that the
        // backup reuses) with gc beside it: gc must not delete what the backup commits.
        (await EngineCli.RunAsync("forget", "--repo", repo, oldSnapshot)).AssertSuccess();
        var again = await BackupBesideGcAsync(repo, 801, old);

        var listed = await SnapshotsAsync(repo);
        Assert.Equal(new[] { keptSnapshot, freshSnapshot, again }.Order(StringComparer.Ordinal), listed.Order(StringComparer.Ordinal));

        // A last gc alone, then everything restores and a full verify rehashes every chunk.
        (await EngineCli.RunAsync("gc", "--repo", repo)).AssertSuccess();
        await AssertRestoresAsync(repo, keptSnapshot, current, _dir["restored.raw"]);
        await AssertRestoresAsync(repo, freshSnapshot, fresh, _dir["restored.raw"]);
        await AssertRestoresAsync(repo, again, old, _dir["restored.raw"]);
        (await EngineCli.RunAsync("verify", "--repo", repo)).AssertSuccess();
    }

    /// <summary>Starts a backup, runs gc while it is still running, and returns the backup's snapshot.</summary>
    private async Task<string> BackupBesideGcAsync(string repo, int vmid, string disk)
    {
        await using var backup = EngineCli.Start(BackupArgs(repo, vmid, disk));
        // The backup is running once its writer lease is in the bucket.
        var deadline = DateTime.UtcNow + EngineCli.Timeout;
        while ((await StoredAsync(gateway, repo, "locks/writer-")).Objects == 0)
        {
            Assert.False(backup.HasExited, $"the backup ended before its lease was seen: nothing was tested\n{backup.Describe()}");
            Assert.True(DateTime.UtcNow < deadline, $"no writer lease under locks/ within {EngineCli.Timeout}\n{backup.Describe()}");
            await Task.Delay(20);
        }

        var gc = await EngineCli.RunAsync("gc", "--repo", repo);
        Assert.True(await backup.WaitForExitAsync(EngineCli.Timeout) == 0, $"the backup beside gc failed\n{backup.Describe()}\n{gc}");
        gc.AssertSuccess();
        return SnapshotOf(backup.Stdout);
    }

    public void Dispose() => _dir.Dispose();
}
