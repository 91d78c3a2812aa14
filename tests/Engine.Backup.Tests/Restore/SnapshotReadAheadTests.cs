using Engine.Backup.Restore;
using Engine.Backup.Tests.Repository;
using Engine.Backup.VmBackup;
using Engine.Sources;

namespace Engine.Backup.Tests.Restore;

/// <summary>
/// Read-ahead of <see cref="SnapshotVolumeDevice"/>: a reader moving forward (in order, or with requests out of order
/// over a window, as qemu-img convert reads) waits for no chunk but the first, also once the chunk cache is full.
/// </summary>
public sealed class SnapshotReadAheadTests
{
    private const int Chunk = TempRepository.SmallChunk;
    private const int Chunks = 40;

    [Theory]
    [InlineData(false)] // 0, 1, 2, 3, …
    [InlineData(true)] // 1, 0, 3, 2, …: two requests in flight, the later one answered first
    public async Task ForwardReader_PastAFullCache_WaitsOnlyForTheFirstChunk(bool pairsSwapped)
    {
        using var repo = new TempRepository();
        var content = TempRepository.Random(Chunks * Chunk, 1601);
        var path = Path.Combine(repo.Root, "disk.raw");
        await File.WriteAllBytesAsync(path, content);
        Backup.Repository.Snapshots.SnapshotId snapshot;
        await using (var volume = FileVolumeSource.Open("drive-scsi0", path, null, null, false))
        {
            snapshot = (await new VmBackupEngine(repo.Repository).BackupAsync(new VmBackupRequest { Vmid = "100", Volumes = [volume] }, new VmBackupOptions())).Id;
        }

        // Read-ahead of 2 chunks: a cache of 8, full after a fifth of the disk.
        await using var device = new SnapshotVolumeDevice(repo.Repository, repo.Repository.ReadIndex(snapshot, "drive-scsi0"), readAheadChunks: 2);
        var buffer = new byte[Chunk];
        for (var i = 0; i < Chunks; i++)
        {
            var chunk = pairsSwapped ? i ^ 1 : i;
            await device.ReadAsync((long)chunk * Chunk, buffer);
            Assert.True(buffer.AsSpan().SequenceEqual(content.AsSpan(chunk * Chunk, Chunk)), $"chunk {chunk} differs");
        }

        Assert.True(device.DemandLoads <= 2, $"{device.DemandLoads} of {Chunks} chunks were loaded only when asked for");
    }
}
