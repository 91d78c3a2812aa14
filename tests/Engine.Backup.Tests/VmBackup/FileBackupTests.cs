using System.Security.Cryptography;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Snapshots;
using Engine.Backup.Restore;
using Engine.Backup.Tests.Repository;
using Engine.Backup.VmBackup;
using Engine.Blocks;
using Engine.Sources;

namespace Engine.Backup.Tests.VmBackup;

/// <summary>VM backups of local files (memory-mapped), incremental with read-modify-write, and the snapshot device that serves them back.</summary>
public sealed class FileBackupTests
{
    private const int Chunk = TempRepository.SmallChunk;
    private const int Chunks = 40;

    private static byte[] Disk(int seed)
    {
        var bytes = TempRepository.Random(Chunks * Chunk, seed);
        Array.Clear(bytes, 5 * Chunk, 3 * Chunk); // three all-zero chunks
        return bytes;
    }

    private static async Task<SnapshotManifest> BackupAsync(TempRepository repo, string path, string? bitmap = null, IEnumerable<SourceRange>? dirty = null, bool discard = false)
    {
        await using var source = FileVolumeSource.Open("drive-virtio0", path, bitmap, dirty is null ? null : ToAsync(dirty), discard);
        Assert.True(source.IsMapped, "a local regular file is read through a memory mapping");
        return await new VmBackupEngine(repo.Repository).BackupAsync(
            new VmBackupRequest { Vmid = "700", Volumes = [source] },
            new VmBackupOptions { Parallelism = 3, DiscardSource = discard, DiscardBatchBytes = 4 * Chunk });
    }

    private static async IAsyncEnumerable<SourceRange> ToAsync(IEnumerable<SourceRange> ranges)
    {
        await Task.Yield();
        foreach (var range in ranges)
        {
            yield return range;
        }
    }

    [Fact]
    public async Task Full_ThenIncrementalWithPartialChunks_RestoresBothExactly()
    {
        using var repo = new TempRepository();
        var path = Path.Combine(repo.Root, "disk.raw");
        var first = Disk(11);
        await File.WriteAllBytesAsync(path, first);
        var full = await BackupAsync(repo, path, "b0", [new SourceRange(0, first.Length)]); // a new bitmap: all dirty
        Assert.Equal(3, full.Stats.ZeroChunks);
        Assert.Null(full.Parent);

        var second = (byte[])first.Clone();
        SourceRange[] dirty = [new(100, 4096), new(Chunk - 512, 1024), new(10 * Chunk, 3 * Chunk), new((Chunks * Chunk) - 4096, 4096)];
        foreach (var range in dirty)
        {
            TempRepository.Random((int)range.Length, (int)range.Offset).CopyTo(second, range.Offset);
        }

        await File.WriteAllBytesAsync(path, second);
        var incremental = await BackupAsync(repo, path, "b0", dirty);
        Assert.Equal(full.Id, incremental.Parent);
        Assert.Equal(dirty.Sum(d => d.Length), incremental.Stats.BytesRead);

        await AssertRestoresAsync(repo, full.Id, first);
        await AssertRestoresAsync(repo, incremental.Id, second);
    }

    [Fact]
    public async Task Incremental_ReadModifyWriteOfASwappedBaseChunk_FailsInsteadOfMergingOtherData()
    {
        using var repo = new TempRepository();
        var (path, chunk0) = await FullBackupWithASwappedChunkAsync(repo, 15, victim: 0);

        var error = await Assert.ThrowsAsync<ChunkCorruptException>(() => BackupAsync(repo, path, "b0", [new SourceRange(100, 4096)]));

        Assert.Equal(chunk0, error.Digest);
        Assert.Single(repo.Repository.ListSnapshots());
    }

    [Fact]
    public async Task Incremental_ReusingASwappedUntouchedChunk_FailsNamingIt()
    {
        using var repo = new TempRepository();
        var (path, chunk2) = await FullBackupWithASwappedChunkAsync(repo, 16, victim: 2);

        var error = await Assert.ThrowsAsync<InvalidDataException>(() => BackupAsync(repo, path, "b0", [new SourceRange(0, Chunk)]));

        Assert.Contains(chunk2.ToString(), error.Message, StringComparison.Ordinal);
        Assert.Contains("back up with a new bitmap", error.Message, StringComparison.Ordinal);
        Assert.Single(repo.Repository.ListSnapshots());
    }

    [Fact]
    public async Task FullBackupWithABitmap_RecordsWhyItIsNotIncremental()
    {
        using var repo = new TempRepository();
        var path = Path.Combine(repo.Root, "disk.raw");
        var content = Disk(17);
        await File.WriteAllBytesAsync(path, content);

        var first = await BackupAsync(repo, path, "b0", [new SourceRange(0, content.Length)]);
        var incremental = await BackupAsync(repo, path, "b0", [new SourceRange(0, 4096)]);
        var noBitmap = await BackupAsync(repo, path);
        await File.WriteAllBytesAsync(path, [.. content, .. TempRepository.Random(Chunk, 18)]);
        var resized = await BackupAsync(repo, path, "b0", [new SourceRange(0, content.Length + Chunk)]);

        Assert.Equal("no earlier snapshot of drive-virtio0 used bitmap b0", first.Devices[0].FullReason);
        Assert.Null(incremental.Devices[0].FullReason);
        Assert.Null(noBitmap.Devices[0].FullReason);
        Assert.Equal($"the earlier snapshot {incremental.Id} of drive-virtio0 (bitmap b0) had size {content.Length}, now {content.Length + Chunk}", resized.Devices[0].FullReason);
        Assert.Equal(resized.Devices[0].FullReason, repo.Reopen().ReadManifest(resized.Id).Devices[0].FullReason); // kept in the manifest
    }

    [Fact]
    public async Task SnapshotDevice_ConcurrentRandomReadsAcrossEvictions_ReturnExactBytes()
    {
        using var repo = new TempRepository();
        var path = Path.Combine(repo.Root, "disk.raw");
        var content = Disk(12);
        await File.WriteAllBytesAsync(path, content);
        var snapshot = await BackupAsync(repo, path);

        // 40 chunks through a cache of 8, from 8 readers at once: evictions happen under every read.
        await using var device = new SnapshotVolumeDevice(repo.Repository, repo.Repository.ReadIndex(snapshot.Id, "drive-virtio0"), readAheadChunks: 2);
        var readers = Enumerable.Range(0, 8).Select(reader => Task.Run(async () =>
        {
            var random = new Random(reader);
            for (var i = 0; i < 150; i++)
            {
                var length = random.Next(1, 3 * Chunk);
                var offset = random.NextInt64(0, content.Length - length);
                var buffer = new byte[length];
                buffer.AsSpan().Fill(0xEE);
                await device.ReadAsync(offset, buffer);
                Assert.True(buffer.AsSpan().SequenceEqual(content.AsSpan((int)offset, length)), $"reader {reader}: read {offset}+{length} differs");
            }
        }));
        await Task.WhenAll(readers);

        var extents = new ExtentList();
        await device.GetExtentsAsync(0, content.Length, extents);
        var holes = extents.AsSpan().ToArray().Where(e => e.Flags.HasFlag(ExtentFlags.Zero)).Sum(e => e.Length);
        Assert.Equal(3L * Chunk, holes);
    }

    [Fact]
    public async Task SnapshotDevice_OpenedByName_ReadsTheBackedUpBytesAndNamesAMissingDevice()
    {
        // The public way in (no device index in sight): what an embedder serving or copying a snapshot disk calls.
        using var repo = new TempRepository();
        var path = Path.Combine(repo.Root, "disk.raw");
        var content = Disk(19);
        await File.WriteAllBytesAsync(path, content);
        var snapshot = await BackupAsync(repo, path);

        await using (var device = SnapshotVolumeDevice.Open(repo.Repository, snapshot.Id, "drive-virtio0"))
        {
            var read = new byte[content.Length];
            await device.ReadAsync(0, read);
            Assert.Equal(content.Length, device.Size);
            Assert.Equal("drive-virtio0", device.Device);
            Assert.Equal(SHA256.HashData(content), SHA256.HashData(read));
        }

        var missing = Assert.Throws<DeviceNotFoundException>(() => SnapshotVolumeDevice.Open(repo.Repository, snapshot.Id, "drive-scsi9"));
        Assert.Contains("drive-scsi9", missing.Message);
        Assert.Contains("drive-virtio0", missing.Message);
    }

    [Fact]
    public async Task DiscardSource_PunchesHolesOnlyAfterTheChunksAreStored()
    {
        using var repo = new TempRepository();
        var path = Path.Combine(repo.Root, "fleecing.raw");
        var content = Disk(13);
        await File.WriteAllBytesAsync(path, content);
        var before = new FileInfo(path).Length;

        var snapshot = await BackupAsync(repo, path, discard: true);

        Assert.Equal(before, new FileInfo(path).Length);
        var after = await File.ReadAllBytesAsync(path);
        Assert.True(after.All(b => b == 0), "every backed-up range was discarded");
        await AssertRestoresAsync(repo, snapshot.Id, content);
    }

    [Fact]
    public async Task BandwidthLimit_PacesSourceReads()
    {
        using var repo = new TempRepository();
        var path = Path.Combine(repo.Root, "disk.raw");
        await File.WriteAllBytesAsync(path, TempRepository.Random(32 * Chunk, 14)); // 2 MiB
        await using var source = FileVolumeSource.Open("drive-virtio0", path, null, null, discard: false);
        var progress = new List<BackupProgress>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var snapshot = await new VmBackupEngine(repo.Repository).BackupAsync(
            new VmBackupRequest { Vmid = "701", Volumes = [source] },
            new VmBackupOptions { BandwidthLimit = 1 << 20, Progress = new SynchronousProgress(progress.Add) });

        // 2 MiB at 1 MiB/s with a quarter-second burst cannot take less than 1.75 s; a slow machine only adds.
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1.7), $"2 MiB at 1 MiB/s took only {clock.Elapsed}");
        Assert.Equal(32L * Chunk, snapshot.Stats.BytesRead);
        Assert.NotEmpty(progress);
        Assert.Equal(32L * Chunk, progress.Max(p => p.BytesRead));
    }

    private sealed class SynchronousProgress(Action<BackupProgress> report) : IProgress<BackupProgress>
    {
        private readonly Lock _lock = new();

        public void Report(BackupProgress value)
        {
            lock (_lock)
            {
                report(value);
            }
        }
    }

    /// <summary>A full backup with bitmap b0, then chunk <paramref name="victim"/>'s file overwritten by the next chunk's (both well-formed).</summary>
    private static async Task<(string Path, ChunkDigest Victim)> FullBackupWithASwappedChunkAsync(TempRepository repo, int seed, int victim)
    {
        var path = Path.Combine(repo.Root, "disk.raw");
        var content = Disk(seed);
        await File.WriteAllBytesAsync(path, content);
        await BackupAsync(repo, path, "b0", [new SourceRange(0, content.Length)]);
        var digest = ChunkDigest.Compute(content.AsSpan(victim * Chunk, Chunk));
        repo.CopyChunkOver(ChunkDigest.Compute(content.AsSpan((victim + 1) * Chunk, Chunk)), digest);
        return (path, digest);
    }

    private static async Task AssertRestoresAsync(TempRepository repo, SnapshotId id, byte[] expected)
    {
        var target = Path.Combine(repo.Root, $"restore-{id.Time.ToUnixTimeSeconds()}.raw");
        await SnapshotRestorer.RestoreAsync(repo.Repository, id, "drive-virtio0", target);
        Assert.True((await File.ReadAllBytesAsync(target)).AsSpan().SequenceEqual(expected), $"restore of {id} differs");
    }
}
