namespace Engine.Backup.Tests.Repository;

/// <summary>
/// A writer killed at each stage of a backup leaves the old state intact: nothing half-visible, a clean verify, and
/// the next backup and garbage collection work. The writer's death is simulated exactly as the kernel would deliver
/// it: its files stay, its lock is released.
/// </summary>
public sealed class CrashTests
{
    private static readonly DateTimeOffset Day1 = new(2026, 11, 1, 6, 0, 0, TimeSpan.Zero);

    public enum Stage
    {
        AfterBegin,
        AfterPuts,
        AfterFirstDevice,
        AfterAllDevices,
        ManifestInTmpNotRenamed,
    }

    [Theory]
    [InlineData(Stage.AfterBegin)]
    [InlineData(Stage.AfterPuts)]
    [InlineData(Stage.AfterFirstDevice)]
    [InlineData(Stage.AfterAllDevices)]
    [InlineData(Stage.ManifestInTmpNotRenamed)]
    public async Task Crash_at_any_stage_leaves_the_old_state_and_the_next_backup_works(Stage stage)
    {
        using var repo = new TempRepository();
        var shared = TempRepository.Compressible(TempRepository.SmallChunk, 1);
        var old = await repo.BackupAsync("100", Day1, [shared, TempRepository.Random(TempRepository.SmallChunk, 2)]);

        var writer = repo.Repository.BeginSnapshot("vm", "100", Day1.AddDays(1));
        if (stage >= Stage.AfterPuts)
        {
            var digests = new[] { await repo.PutAsync(shared), await repo.PutAsync(TempRepository.Random(TempRepository.SmallChunk, 3)) };
            if (stage >= Stage.AfterFirstDevice)
            {
                writer.AddDevice("scsi0", 2L * TempRepository.SmallChunk, TempRepository.SmallChunk, digests, null);
            }

            if (stage >= Stage.AfterAllDevices)
            {
                writer.AddDevice("scsi1", 1, TempRepository.SmallChunk, [digests[1]], null);
            }

            if (stage == Stage.ManifestInTmpNotRenamed)
            {
                File.WriteAllText(Path.Combine(repo.Path, "tmp", "manifest-crashed"), "{\"id\":");
            }
        }

        writer.SimulateCrash();
        repo.Reopen();

        var listed = Assert.Single(repo.Repository.ListSnapshots());
        Assert.Equal(old.Id, listed.Id);
        Assert.Equal(old.Id, repo.Repository.FindLatest("vm", "100")!.Id);
        Assert.True((await repo.Repository.VerifyAsync(null, null, CancellationToken.None)).IsClean);

        // Everything the crash left is older than the cutoff once the writer is gone: GC removes it all.
        repo.AgeAllChunks(TimeSpan.FromHours(1));
        AgeTree(Path.Combine(repo.Path, "snapshots"), TimeSpan.FromHours(1));
        AgeTree(Path.Combine(repo.Path, "tmp"), TimeSpan.FromHours(1));
        var gc = await repo.Repository.CollectGarbageAsync(CancellationToken.None);
        Assert.Equal(0, gc.ActiveWriters);
        Assert.Equal(stage >= Stage.AfterPuts ? 1 : 0, gc.ChunksRemoved);
        Assert.Equal(1, gc.IncompleteSnapshotsRemoved);
        Assert.Empty(Directory.GetFiles(Path.Combine(repo.Path, "writers")));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(repo.Path, "tmp")));
        Assert.Equal(2, repo.ChunkFiles().Length);

        var next = await repo.BackupAsync("100", Day1.AddDays(1), [shared]);
        Assert.Equal(Day1.AddDays(1), next.Time);
        Assert.Equal(2, repo.Repository.ListSnapshots().Count);
        Assert.True((await repo.Repository.VerifyAsync(null, null, CancellationToken.None)).IsClean);
    }

    internal static void AgeTree(string root, TimeSpan age)
    {
        var when = DateTime.UtcNow - age;
        foreach (var file in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories))
        {
            File.SetLastWriteTimeUtc(file, when);
        }

        foreach (var directory in Directory.EnumerateDirectories(root, "*", SearchOption.AllDirectories))
        {
            Directory.SetLastWriteTimeUtc(directory, when);
        }
    }
}
