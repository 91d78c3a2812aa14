using Engine.Backup.Repository;
using Engine.Backup.Repository.Chunks;

namespace Engine.Backup.Tests.Repository;

public sealed class GarbageCollectionTests
{
    private static readonly DateTimeOffset Day1 = new(2026, 11, 1, 6, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Removes_old_unreferenced_chunks_and_never_referenced_ones()
    {
        using var repo = new TempRepository();
        byte[] c1 = TempRepository.Random(3000, 1), c2 = TempRepository.Random(3000, 2), c3 = TempRepository.Random(3000, 3), orphan = TempRepository.Random(5000, 4);
        var a = await repo.BackupAsync("100", Day1, [c1, c2]);
        await repo.BackupAsync("100", Day1.AddDays(1), [c2, c3]);
        var orphanDigest = await repo.PutAsync(orphan);
        var freed = new FileInfo(repo.Chunks.PathOf(ChunkDigest.Compute(c1))).Length + new FileInfo(repo.Chunks.PathOf(orphanDigest)).Length;
        repo.Repository.DeleteSnapshot(a.Id);
        repo.AgeAllChunks(TimeSpan.FromDays(3650)); // referenced chunks are kept however old

        var report = await repo.Repository.CollectGarbageAsync(CancellationToken.None);

        Assert.Equal(2, report.ChunksRemoved);
        Assert.Equal(freed, report.BytesFreed);
        Assert.Equal(2, report.ChunksReferenced);
        Assert.Equal(4, report.ChunksScanned);
        Assert.Equal(1, report.Snapshots);
        Assert.False(repo.Chunks.Contains(ChunkDigest.Compute(c1)));
        Assert.False(repo.Chunks.Contains(orphanDigest));
        Assert.True((await repo.Repository.VerifyAsync(null, null, CancellationToken.None)).IsClean);
        Assert.Equal(2, repo.ChunkFiles().Length);
    }

    [Fact]
    public async Task Keeps_recent_unreferenced_chunks_within_the_grace_while_a_writer_runs()
    {
        using var repo = new TempRepository(new RepositoryOptions { ChunkSize = TempRepository.SmallChunk, GcGrace = TimeSpan.FromMinutes(5) });
        await using var writer = repo.Repository.BeginSnapshot("vm", "100", Day1);
        var recent = await repo.PutAsync(TempRepository.Random(1000, 5));
        repo.AgeAllChunks(TimeSpan.FromMinutes(1)); // older than the writer's start, but within the grace

        var report = await repo.Repository.CollectGarbageAsync(CancellationToken.None);

        Assert.Equal(1, report.ActiveWriters);
        Assert.Equal(0, report.ChunksRemoved);
        Assert.Equal(1, report.ChunksKeptRecent);
        Assert.True(repo.Chunks.Contains(recent));
    }

    [Fact]
    public async Task Gc_straight_after_forget_with_no_writer_frees_the_space_whatever_the_grace()
    {
        using var repo = new TempRepository(new RepositoryOptions { ChunkSize = TempRepository.SmallChunk, GcGrace = TimeSpan.FromMinutes(5) });
        var data = TempRepository.Random(5000, 50);
        var snapshot = await repo.BackupAsync("100", Day1, [data]);
        repo.AgeAllChunks(TimeSpan.FromSeconds(2)); // a moment ago: well inside the 5-minute grace
        repo.Repository.DeleteSnapshot(snapshot.Id);

        var report = await repo.Repository.CollectGarbageAsync(CancellationToken.None);

        Assert.Equal(0, report.ActiveWriters);
        Assert.Equal(1, report.ChunksRemoved);
        Assert.Equal(0, report.ChunksKeptRecent);
        Assert.Empty(repo.ChunkFiles());
    }

    [Fact]
    public async Task A_dead_writers_chunks_go_at_once_while_a_live_writers_stay()
    {
        using var repo = new TempRepository(new RepositoryOptions { ChunkSize = TempRepository.SmallChunk, GcGrace = TimeSpan.FromMinutes(5) });
        var dead = repo.Repository.BeginSnapshot("vm", "100", Day1);
        var orphan = await repo.PutAsync(TempRepository.Random(3000, 51));
        dead.SimulateCrash(); // a backup killed after writing a chunk: its writers/ file stays, unlocked
        repo.AgeAllChunks(TimeSpan.FromSeconds(2));

        var report = await repo.Repository.CollectGarbageAsync(CancellationToken.None);

        Assert.Equal(0, report.ActiveWriters);
        Assert.False(repo.Chunks.Contains(orphan));
        Assert.Empty(Directory.GetFiles(Path.Combine(repo.Path, "writers")));
    }

    [Fact]
    public async Task Keeps_chunks_an_active_writer_touched_and_the_writer_commits_afterwards()
    {
        using var repo = new TempRepository();
        var reused = await repo.PutAsync(TempRepository.Random(1000, 6));
        var forgotten = await repo.PutAsync(TempRepository.Random(1000, 7));
        repo.AgeAllChunks(TimeSpan.FromHours(1));

        await using var writer = repo.Repository.BeginSnapshot("vm", "100", Day1);
        Assert.True(repo.Chunks.Touch(reused)); // the writer reuses an old chunk
        var fresh = await repo.PutAsync(TempRepository.Random(1000, 8)); // and writes a new one

        var report = await repo.Repository.CollectGarbageAsync(CancellationToken.None);

        Assert.Equal(1, report.ActiveWriters);
        Assert.True(report.Cutoff <= writer.Started);
        Assert.Equal(1, report.ChunksRemoved);
        Assert.False(repo.Chunks.Contains(forgotten));
        Assert.True(repo.Chunks.Contains(reused));
        Assert.True(repo.Chunks.Contains(fresh));
        Assert.Equal(0, report.IncompleteSnapshotsRemoved); // the writer's own directory survives

        writer.AddDevice("scsi0", 2L * TempRepository.SmallChunk, TempRepository.SmallChunk, [reused, fresh], null);
        var manifest = await writer.CommitAsync(CancellationToken.None);
        Assert.True((await repo.Repository.VerifyAsync(manifest.Id, null, CancellationToken.None)).IsClean);
    }

    [Fact]
    public async Task Sweep_waits_for_writers_holding_the_chunk_lock()
    {
        using var repo = new TempRepository();
        await repo.PutAsync(TempRepository.Random(1000, 9));
        repo.AgeAllChunks(TimeSpan.FromHours(1));

        Task<GcReport> gc;
        using (ChunkLock.Shared(repo.Chunks.LockPath))
        {
            gc = repo.Repository.CollectGarbageAsync(CancellationToken.None);
            await Task.Delay(500);
            Assert.False(gc.IsCompleted, "the sweep unlinked while a writer held the shared chunk lock");
        }

        Assert.Equal(1, (await gc.WaitAsync(TimeSpan.FromSeconds(30))).ChunksRemoved);
    }

    [Fact]
    public async Task Unreadable_index_aborts_before_deleting_anything()
    {
        using var repo = new TempRepository();
        await repo.BackupAsync("100", Day1, [TempRepository.Random(1000, 10)]);
        await repo.PutAsync(TempRepository.Random(1000, 11));
        repo.AgeAllChunks(TimeSpan.FromHours(1));
        File.WriteAllText(Path.Combine(repo.Path, "snapshots/vm/100/2026-11-01T06:00:00Z/scsi0.index"), "garbage");

        await Assert.ThrowsAsync<RepositoryCorruptException>(() => repo.Repository.CollectGarbageAsync(CancellationToken.None));

        Assert.Equal(2, repo.ChunkFiles().Length);
    }

    [Fact]
    public async Task A_chunk_collected_before_the_writer_touched_it_fails_the_writer_clearly()
    {
        using var repo = new TempRepository();
        var old = await repo.PutAsync(TempRepository.Random(1000, 12));
        repo.AgeAllChunks(TimeSpan.FromHours(1));
        await repo.Repository.CollectGarbageAsync(CancellationToken.None);

        await using var writer = repo.Repository.BeginSnapshot("vm", "100", Day1);
        Assert.False(repo.Chunks.Touch(old));
        Assert.Throws<ChunkMissingException>(() => writer.AddDevice("scsi0", 1000, TempRepository.SmallChunk, [old], null));
    }
}
