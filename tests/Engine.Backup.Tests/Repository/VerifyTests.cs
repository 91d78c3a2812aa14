using Engine.Backup.Repository;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Snapshots;

namespace Engine.Backup.Tests.Repository;

public sealed class VerifyTests
{
    private static readonly DateTimeOffset Day1 = new(2026, 11, 1, 6, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Clean_repository_verifies_clean()
    {
        using var repo = new TempRepository();
        await repo.BackupAsync("100", Day1, [TempRepository.Random(1000, 1), null, TempRepository.Compressible(TempRepository.SmallChunk, 2)]);
        var progress = new List<VerifyProgress>();

        var report = await repo.Repository.VerifyAsync(null, new SynchronousProgress(progress), CancellationToken.None);

        Assert.True(report.IsClean);
        Assert.Equal(2, report.ChunksChecked);
        Assert.True(report.Rehashed);
        Assert.Single(report.Snapshots);
        Assert.True(report.BytesChecked > 1000);
        Assert.Equal(2, progress[^1].ChunksChecked);
    }

    [Fact]
    public async Task Corrupt_shared_chunk_is_reported_with_every_snapshot_using_it()
    {
        using var repo = new TempRepository();
        var shared = TempRepository.Compressible(TempRepository.SmallChunk, 3);
        var first = await repo.BackupAsync("100", Day1, [shared, TempRepository.Random(500, 4)]);
        var second = await repo.BackupAsync("100", Day1.AddDays(1), [shared]);
        var other = await repo.BackupAsync("200", Day1, [TempRepository.Random(500, 5)]);
        var digest = ChunkDigest.Compute(shared);
        ChunkStoreTests.FlipByte(repo.Chunks.PathOf(digest), 60);

        var report = await repo.Repository.VerifyAsync(null, null, CancellationToken.None);

        Assert.False(report.IsClean);
        var bad = Assert.Single(report.BadChunks);
        Assert.Equal(digest, bad.Digest);
        Assert.Equal(repo.Chunks.PathOf(digest), bad.Path);
        Assert.Equal(ChunkCheck.ChecksumMismatch, bad.Check);
        Assert.Equal([first.Id, second.Id], bad.Snapshots);
        Assert.Equal(3, report.Snapshots.Count);

        var onlyOther = await repo.Repository.VerifyAsync(other.Id, null, CancellationToken.None);
        Assert.True(onlyOther.IsClean);
        var onlySecond = await repo.Repository.VerifyAsync(second.Id, null, CancellationToken.None);
        Assert.Equal([second.Id], Assert.Single(onlySecond.BadChunks).Snapshots);
    }

    [Fact]
    public async Task Missing_chunk_is_reported()
    {
        using var repo = new TempRepository();
        var data = TempRepository.Random(2000, 6);
        var snapshot = await repo.BackupAsync("100", Day1, [data]);
        File.Delete(repo.Chunks.PathOf(ChunkDigest.Compute(data)));

        var report = await repo.Repository.VerifyAsync(null, null, CancellationToken.None, rehash: false);

        var bad = Assert.Single(report.BadChunks);
        Assert.Equal(ChunkCheck.Missing, bad.Check);
        Assert.Equal([snapshot.Id], bad.Snapshots);
    }

    [Fact]
    public async Task Truncated_index_is_rejected_and_reported()
    {
        using var repo = new TempRepository();
        var snapshot = await repo.BackupAsync("100", Day1, [TempRepository.Random(2000, 7), TempRepository.Random(2000, 8)]);
        var indexPath = Path.Combine(repo.Repository.Directory, "snapshots/vm/100/2026-11-01T06:00:00Z/scsi0.index");
        using (var stream = new FileStream(indexPath, FileMode.Open))
        {
            stream.SetLength(stream.Length - 9);
        }

        var error = Assert.Throws<RepositoryCorruptException>(() => repo.Repository.ReadIndex(snapshot.Id, "scsi0"));
        Assert.Contains(indexPath, error.Message, StringComparison.Ordinal);

        var report = await repo.Repository.VerifyAsync(null, null, CancellationToken.None);
        var bad = Assert.Single(report.BadSnapshots);
        Assert.Equal(snapshot.Id, bad.Snapshot);
        Assert.Equal(indexPath, bad.Path);
    }

    [Fact]
    public async Task Index_swapped_for_another_valid_one_is_caught_by_the_manifest_checksum()
    {
        using var repo = new TempRepository();
        var a = await repo.BackupAsync("100", Day1, [TempRepository.Random(2000, 9)]);
        await repo.BackupAsync("100", Day1.AddDays(1), [TempRepository.Random(2000, 10)]);
        File.Copy(
            Path.Combine(repo.Path, "snapshots/vm/100/2026-11-02T06:00:00Z/scsi0.index"),
            Path.Combine(repo.Path, "snapshots/vm/100/2026-11-01T06:00:00Z/scsi0.index"),
            overwrite: true);

        var error = Assert.Throws<RepositoryCorruptException>(() => repo.Repository.ReadIndex(a.Id, "scsi0"));

        Assert.Contains("manifest", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verifying_an_unknown_snapshot_throws()
    {
        using var repo = new TempRepository();

        await Assert.ThrowsAsync<SnapshotNotFoundException>(() => repo.Repository.VerifyAsync(new SnapshotId("vm", "1", Day1), null, CancellationToken.None));
    }

    /// <summary>Progress&lt;T&gt; posts to the thread pool; tests need the reports in order and complete.</summary>
    private sealed class SynchronousProgress(List<VerifyProgress> reports) : IProgress<VerifyProgress>
    {
        public void Report(VerifyProgress value)
        {
            lock (reports)
            {
                reports.Add(value);
            }
        }
    }
}
