using Engine.Backup.Repository;
using Engine.Backup.Repository.Snapshots;
using Engine.Backup.VmBackup;
using Engine.Blocks.Devices;
using Engine.Interop.Tests.Infrastructure;
using Engine.Nbd.Server;
using Engine.Sources;
using static Engine.Interop.Tests.Backup.BackupTestKit;
using static Engine.Interop.Tests.Infrastructure.DiskFiles;

namespace Engine.Interop.Tests.Backup;

/// <summary>
/// Backups against a snapshot access as strict as PVE's: clean ranges fail to read, and every stored range must be
/// discarded. Served over NBD by Engine's server, and as a file through nbdfuse opened O_RDWR|O_DIRECT as PVE does.
/// </summary>
public sealed class SnapshotAccessBackupTests
{
    private const long Size = 24L * MiB;

    private static readonly (long Offset, long Length)[] Dirty =
    [
        (0, 64 * KiB),                         // start of chunk 0
        (4 * MiB - 128 * KiB, 256 * KiB),      // across the chunk 0/1 boundary
        (9 * MiB, 4 * MiB),                    // one whole chunk and parts of two
        (24 * MiB - 64 * KiB, 64 * KiB),       // the last 64 KiB
    ];

    private static async Task<MemoryBlockDevice> DiskAsync(int seed)
    {
        var disk = new MemoryBlockDevice(Size);
        await disk.WriteAsync(0, RandomBytes((int)Size, seed));
        await disk.WriteAsync(16 * MiB, new byte[4 * MiB]); // one all-zero chunk
        return disk;
    }

    /// <summary>The disk of <paramref name="seed"/> after the guest wrote new data over the <see cref="Dirty"/> ranges.</summary>
    private static async Task<MemoryBlockDevice> ChangedDiskAsync(int seed)
    {
        var disk = await DiskAsync(seed);
        foreach (var (offset, length) in Dirty)
        {
            await disk.WriteAsync(offset, RandomBytes((int)length, seed + (int)(offset / KiB)));
        }

        return disk;
    }

    private static async Task<byte[]> ContentAsync(MemoryBlockDevice disk)
    {
        var bytes = new byte[Size];
        await disk.ReadAsync(0, bytes);
        return bytes;
    }

    [Fact]
    public async Task Nbd_IncrementalReadsOnlyDirtyRanges_AndDiscardsEachOnce()
    {
        using var dir = new TempDir();
        using var repository = BackupRepository.Open(dir["repo"]);
        var first = await DiskAsync(501);
        var firstAccess = new SnapshotAccessDevice(first, Bitmap, [(0, Size)]); // a new bitmap: everything dirty
        var full = await BackupThroughServerAsync(dir, repository, firstAccess);
        Assert.Equal(Size - (4 * MiB), full.Stats.BytesRead); // the all-zero chunk is a hole in base:allocation, never read
        Assert.Equal(1, full.Stats.ZeroChunks);
        AssertCovered(firstAccess.Trims, [(0, 16 * MiB), (20 * MiB, 4 * MiB)], "a full backup discards everything it read");

        // The guest changed the dirty ranges; everything else must come from the previous snapshot, unread.
        var second = await ChangedDiskAsync(501);
        var secondAccess = new SnapshotAccessDevice(second, Bitmap, Dirty);
        var incremental = await BackupThroughServerAsync(dir, repository, secondAccess);
        Assert.Equal(full.Id, incremental.Parent);
        Assert.Equal(Dirty.Sum(d => d.Length), incremental.Stats.BytesRead);
        AssertCovered(secondAccess.Trims, Dirty, "each dirty range is discarded once stored");

        await AssertRestoredEqualsAsync(repository, full.Id, await ContentAsync(first), dir["r1.raw"]);
        await AssertRestoredEqualsAsync(repository, incremental.Id, await ContentAsync(second), dir["r2.raw"]);
        await AssertCleanAsync(repository);
    }

    [Fact]
    public async Task NbdfuseFileHandle_ODirect_DirtyMapFromNbdinfo_RestoresByteExact()
    {
        Assert.True(File.Exists("/dev/fuse"), "/dev/fuse is missing: nbdfuse needs the fuse kernel module (and the Debian package fuse3)");
        Tool.Require("fusermount3");
        using var dir = new TempDir();
        using var repository = BackupRepository.Open(dir["repo"]);
        var first = await DiskAsync(502);
        var full = await BackupThroughFuseAsync(dir, repository, new SnapshotAccessDevice(first, Bitmap, [(0, Size)]));
        Assert.Null(full.Parent);

        var second = await ChangedDiskAsync(502);
        var access = new SnapshotAccessDevice(second, Bitmap, Dirty);
        var incremental = await BackupThroughFuseAsync(dir, repository, access);
        Assert.Equal(full.Id, incremental.Parent);
        Assert.Equal(Dirty.Sum(d => d.Length), incremental.Stats.BytesRead);
        Assert.True(access.Trims.Count > 0, "fallocate(PUNCH_HOLE) on the nbdfuse file reaches the export as trims");

        await AssertRestoredEqualsAsync(repository, incremental.Id, await ContentAsync(second), dir["r2.raw"]);
    }

    private static async Task<SnapshotManifest> BackupThroughServerAsync(TempDir dir, BackupRepository repository, SnapshotAccessDevice access)
    {
        await using var server = Serve(dir, access);
        try
        {
            return await BackupNbdAsync(repository, "300", server.Uri("drive-scsi0"), Bitmap, new VmBackupOptions { DiscardSource = true, DiscardBatchBytes = 1 * MiB });
        }
        finally
        {
            File.Delete(server.SocketPath);
        }
    }

    private static async Task<SnapshotManifest> BackupThroughFuseAsync(TempDir dir, BackupRepository repository, SnapshotAccessDevice access)
    {
        await using var server = Serve(dir, access);
        var mount = dir["fuse-" + Guid.NewGuid().ToString("N")[..6]];
        Directory.CreateDirectory(mount);
        var file = Path.Combine(mount, "disk.raw");
        try
        {
            // PVE's next-dirty-region comes from nbdinfo --map on the bitmap; so does this dirty map.
            var map = (await Tool.RunAsync("nbdinfo", "--map=qemu:dirty-bitmap:" + Bitmap, server.Uri("drive-scsi0"))).AssertSuccess().Stdout;
            await using var fuse = Tool.Start("nbdfuse", [file, server.Uri("drive-scsi0")]);
            try
            {
                await fuse.WaitUntilAsync(() => File.Exists(file), TimeSpan.FromSeconds(20), $"{file} to appear");
                using var handle = DirectOpen.ReadWrite(file);
                await using var source = new FileVolumeSource("drive-scsi0", handle, file, Bitmap, DirtyMapReader.ReadAsync(new StringReader(map), "map", Size));
                Assert.False(source.IsMapped, "an nbdfuse file is read with pread, never mapped (an I/O error would be SIGBUS)");
                Assert.Equal(4096, source.ReadAlignment);
                return await new VmBackupEngine(repository).BackupAsync(
                    new VmBackupRequest { Vmid = "301", Volumes = [source] },
                    new VmBackupOptions { DiscardSource = true, DiscardBatchBytes = 1 * MiB });
            }
            finally
            {
                await Tool.RunAsync("fusermount3", "-u", "-z", mount);
            }
        }
        finally
        {
            File.Delete(server.SocketPath);
        }
    }

    /// <summary>Engine's server exporting the snapshot access as drive-scsi0, with its dirty-bitmap context.</summary>
    private static EngineServer Serve(TempDir dir, SnapshotAccessDevice access)
    {
        var server = new EngineServer(dir);
        var export = new NbdExport("drive-scsi0", access);
        export.MetaContexts.Register(access);
        server.Server.AddExport(export);
        server.Server.ListenUnix(server.SocketPath);
        return server;
    }

    private static async Task AssertRestoredEqualsAsync(BackupRepository repository, SnapshotId id, byte[] expected, string path)
    {
        await Engine.Backup.Restore.SnapshotRestorer.RestoreAsync(repository, id, "drive-scsi0", path);
        var actual = await File.ReadAllBytesAsync(path);
        Assert.True(actual.AsSpan().SequenceEqual(expected), $"restore of {id} differs from the disk it backed up");
    }

    /// <summary>The trimmed ranges cover exactly the expected ranges, each byte once.</summary>
    private static void AssertCovered(List<(long Offset, long Length)> trims, (long Offset, long Length)[] expected, string what)
    {
        var sorted = trims.OrderBy(t => t.Offset).ToList();
        var total = sorted.Sum(t => t.Length);
        Assert.True(total == expected.Sum(e => e.Length), $"{what}: trimmed {total} bytes in {sorted.Count} ranges, expected {expected.Sum(e => e.Length)}");
        foreach (var (offset, length) in sorted)
        {
            Assert.True(expected.Any(e => e.Offset <= offset && offset + length <= e.Offset + e.Length), $"{what}: trim {offset}+{length} is outside the dirty ranges");
        }

        for (var i = 1; i < sorted.Count; i++)
        {
            Assert.True(sorted[i - 1].Offset + sorted[i - 1].Length <= sorted[i].Offset, $"{what}: trims overlap at {sorted[i].Offset}");
        }
    }
}
