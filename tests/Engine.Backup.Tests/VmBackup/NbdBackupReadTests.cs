using System.Security.Cryptography;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Snapshots;
using Engine.Backup.Restore;
using Engine.Backup.Tests.Repository;
using Engine.Backup.VmBackup;
using Engine.Nbd.Client;
using Engine.Sources;

namespace Engine.Backup.Tests.VmBackup;

/// <summary>
/// How a backup reads from NBD (qemu-nbd, as PVE's snapshot access): chunks read as many concurrent requests over
/// several connections, several dirty ranges of one chunk at once, and all-zero chunks kept out of the store.
/// </summary>
public sealed class NbdBackupReadTests
{
    private const int Chunk = TempRepository.SmallChunk;

    [Fact]
    public async Task Written_zero_chunks_are_read_but_not_hashed_or_stored_and_restore_as_zeros()
    {
        using var repo = new TempRepository();
        // Chunks 1, 2 and 5 are zeros written to the file: allocated, so qemu-nbd reports them as data and they are read.
        var disk = TempRepository.Random(8 * Chunk, 801);
        Array.Clear(disk, 1 * Chunk, 2 * Chunk);
        Array.Clear(disk, 5 * Chunk, Chunk);
        TempRepository.Compressible(Chunk, 811).CopyTo(disk, 3 * Chunk); // stored compressed, the others raw
        var image = Path.Combine(repo.Root, "disk.raw");
        await File.WriteAllBytesAsync(image, disk);

        SnapshotManifest snapshot;
        await using (var server = await QemuNbdAsync(repo.Root, image, "raw"))
        {
            snapshot = await BackupAsync(repo, "801", server.Uri, bitmap: null);
        }

        Assert.Equal(disk.Length, snapshot.Stats.BytesRead);
        Assert.Equal(3, snapshot.Stats.ZeroChunks);
        Assert.Equal(5, snapshot.Stats.ChunksNew);
        Assert.Equal(5L * Chunk, snapshot.Stats.BytesNew);
        Assert.True(snapshot.Stats.BytesStored < 5L * Chunk, "the compressible chunk is stored compressed");
        var index = repo.Repository.ReadIndex(snapshot.Id, Device);
        Assert.All(new[] { 1, 2, 5 }, i => Assert.True(index[i].IsZero, $"chunk {i} is recorded as the zero chunk"));

        // No chunk file holds the zeros: the digest of a zero chunk was never computed, let alone stored.
        var zeroDigest = ChunkDigest.Read(SHA256.HashData(new byte[Chunk]));
        Assert.False(File.Exists(repo.Chunks.PathOf(zeroDigest)), "a zero chunk is not stored under its SHA-256");
        await AssertRestoresAsync(repo, snapshot, disk);
    }

    [Fact]
    public async Task Several_connections_produce_the_same_snapshot_as_one()
    {
        using var repo = new TempRepository();
        var disk = TempRepository.Random(24 * Chunk + 4096, 802); // a short last chunk too
        Array.Clear(disk, 7 * Chunk, 3 * Chunk);
        var image = Path.Combine(repo.Root, "disk.raw");
        await File.WriteAllBytesAsync(image, disk);

        SnapshotManifest one, four;
        await using (var server = await QemuNbdAsync(repo.Root, image, "raw"))
        {
            one = await BackupAsync(repo, "802", server.Uri, bitmap: null, connections: 1);
            four = await BackupAsync(repo, "803", server.Uri, bitmap: null, connections: 4);
        }

        var first = repo.Repository.ReadIndex(one.Id, Device);
        var second = repo.Repository.ReadIndex(four.Id, Device);
        Assert.Equal(first.ChunkCount, second.ChunkCount);
        for (var i = 0; i < first.ChunkCount; i++)
        {
            Assert.Equal(first[i], second[i]);
        }

        Assert.Equal(0, four.Stats.BytesNew); // every chunk the second backup read was already there, byte for byte
        await AssertRestoresAsync(repo, four, disk);
        Assert.True((await repo.Repository.VerifyAsync(null, null, CancellationToken.None)).IsClean);
    }

    [Fact]
    public async Task Many_dirty_ranges_in_one_chunk_are_read_together_into_their_places()
    {
        using var repo = new TempRepository(new Engine.Backup.Repository.RepositoryOptions { ChunkSize = 1 << 20, GcGrace = TimeSpan.Zero });
        const int size = 4 << 20;
        var image = Path.Combine(repo.Root, "disk.qcow2");
        await File.WriteAllBytesAsync(image + ".raw", TempRepository.Random(size, 803));
        (await Tool.RunAsync("qemu-img", "convert", "-f", "raw", "-O", "qcow2", image + ".raw", image)).AssertSuccess();
        (await Tool.RunAsync("qemu-img", "bitmap", "--add", "--enable", image, "b0")).AssertSuccess();

        await using (var server = await QemuNbdAsync(repo.Root, image, "qcow2", "-B", "b0"))
        {
            await BackupAsync(repo, "804", server.Uri, "b0");
        }

        // Nine 64 KiB writes scattered over the first 1 MiB chunk, two in the third, with clean gaps between them.
        (await Tool.RunAsync("qemu-img", "bitmap", "--clear", image, "b0")).AssertSuccess();
        var writes = new List<string>();
        for (var i = 0; i < 9; i++)
        {
            writes.AddRange(["-c", $"write -P 0x{0x21 + i:x2} {i * 2 * 65536} 65536"]);
        }

        writes.AddRange(["-c", "write -P 0x5a 2162688 65536", "-c", "write -z 2949120 65536"]);
        (await Tool.RunAsync("qemu-io", ["-f", "qcow2", .. writes, image])).AssertSuccess();
        (await Tool.RunAsync("qemu-img", "convert", "-f", "qcow2", "-O", "raw", image, image + ".raw")).AssertSuccess();

        SnapshotManifest incremental;
        await using (var server = await QemuNbdAsync(repo.Root, image, "qcow2", "-B", "b0"))
        {
            incremental = await BackupAsync(repo, "804", server.Uri, "b0");
        }

        Assert.NotNull(incremental.Parent);
        Assert.Equal(11L * 65536, incremental.Stats.BytesRead); // the dirty bytes, nothing else
        await AssertRestoresAsync(repo, incremental, await File.ReadAllBytesAsync(image + ".raw"));
    }

    private const string Device = "drive-scsi0";

    private static async Task<SnapshotManifest> BackupAsync(TempRepository repo, string vmid, string uri, string? bitmap, int connections = 0)
    {
        await using var source = await NbdVolumeSource.ConnectAsync(Device, uri, bitmap, new NbdClientOptions { Connections = connections });
        if (connections > 0)
        {
            Assert.Equal(connections, source.Client.ConnectionCount);
        }

        return await new VmBackupEngine(repo.Repository).BackupAsync(new VmBackupRequest { Vmid = vmid, Volumes = [source] });
    }

    private static async Task AssertRestoresAsync(TempRepository repo, SnapshotManifest snapshot, byte[] expected)
    {
        var target = Path.Combine(repo.Root, "restored-" + snapshot.Id.ToString().Replace('/', '-').Replace(':', '-') + ".raw");
        await SnapshotRestorer.RestoreAsync(repo.Repository, snapshot.Id, Device, target);
        Assert.Equal(SHA256.HashData(expected), SHA256.HashData(await File.ReadAllBytesAsync(target)));
    }

    /// <summary>qemu-nbd exporting <paramref name="image"/> read-only on a Unix socket, multi-conn allowed.</summary>
    private static async Task<QemuNbd> QemuNbdAsync(string dir, string image, string format, params string[] extra)
    {
        var socket = Path.Combine(dir, "q-" + Guid.NewGuid().ToString("N")[..8] + ".sock");
        var process = Tool.Start("qemu-nbd", ["-k", socket, "-r", "-t", "--shared=8", "-f", format, "-x", Device, .. extra, image]);
        var uri = $"nbd+unix:///{Device}?socket={socket}";
        for (var i = 0; i < 300 && !File.Exists(socket); i++)
        {
            Assert.False(process.HasExited, $"qemu-nbd exited: {process.Stdout}");
            await Task.Delay(20);
        }

        Assert.True(File.Exists(socket), $"qemu-nbd did not create {socket}");
        return new QemuNbd(process, uri);
    }

    private sealed class QemuNbd(RunningTool process, string uri) : IAsyncDisposable
    {
        public string Uri { get; } = uri;

        public ValueTask DisposeAsync() => process.DisposeAsync();
    }
}
