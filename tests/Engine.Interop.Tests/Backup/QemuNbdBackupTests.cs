using Engine.Backup.Repository;
using Engine.Backup.Repository.Snapshots;
using static Engine.Interop.Tests.Backup.BackupTestKit;
using static Engine.Interop.Tests.Infrastructure.DiskFiles;

namespace Engine.Interop.Tests.Backup;

/// <summary>VM backups from qemu-nbd -B exports of qcow2 images whose persistent bitmaps qemu-io dirtied.</summary>
public sealed class QemuNbdBackupTests
{
    private const long Size = 64L * MiB;

    [Fact]
    public async Task FullThenIncremental_ReadsOnlyDirtyBytes_BothRestoreByteExact()
    {
        using var dir = new TempDir();
        var image = await CreateQcow2WithBitmapAsync(dir, "disk.qcow2", Size, 401, (0, 6 * MiB), (20 * MiB, 3 * MiB), (40 * MiB + 512 * KiB, 256 * KiB));
        using var repository = BackupRepository.Open(dir["repo"]);

        SnapshotManifest full;
        await using (var server = await ExportAsync(dir, image))
        {
            full = await BackupNbdAsync(repository, "100", server.Uri("drive-scsi0"), Bitmap);
        }

        Assert.Null(full.Parent);
        Assert.Equal(Bitmap, Assert.Single(full.Devices).Bitmap);
        Assert.Equal(6L * MiB + 3 * MiB + 256 * KiB, full.Stats.BytesRead); // data ranges only: holes are never read
        var v1 = await SnapshotRawAsync(image, dir["v1.raw"]);

        // The backup succeeded, so the bitmap starts over; then the guest writes, straddling chunk boundaries.
        (await Tool.RunAsync("qemu-img", "bitmap", "--clear", image, Bitmap)).AssertSuccess();
        await QemuIoAsync(image,
            "write -P 0x33 4190208 8192",        // across the 4 MiB chunk boundary
            "write -P 0x44 31457280 65536",      // inside an all-zero chunk
            "write -z 20971520 65536",           // zeroes over data
            "write -P 0x55 67043328 65536");     // the last 64 KiB
        long dirty;
        SnapshotManifest incremental;
        await using (var server = await ExportAsync(dir, image))
        {
            dirty = await DirtyBytesAsync(server.Uri("drive-scsi0"));
            incremental = await BackupNbdAsync(repository, "100", server.Uri("drive-scsi0"), Bitmap);
        }

        Assert.Equal(full.Id, incremental.Parent);
        Assert.True(dirty > 0 && incremental.Stats.BytesRead == dirty, $"read {incremental.Stats.BytesRead} bytes for {dirty} dirty bytes");
        Assert.True(incremental.Stats.ChunksReused > 0, "unchanged chunks come from the previous snapshot");
        var v2 = await SnapshotRawAsync(image, dir["v2.raw"]);

        await AssertRestoresAsync(repository, full.Id, v1, dir["r1.raw"]);
        await AssertRestoresAsync(repository, incremental.Id, v2, dir["r2.raw"]);
        await AssertCleanAsync(repository);
    }

    [Fact]
    public async Task Incremental_WithoutPreviousSnapshotOrAfterResize_IsFull()
    {
        using var dir = new TempDir();
        var image = await CreateQcow2WithBitmapAsync(dir, "disk.qcow2", 16 * MiB, 402, (0, 2 * MiB));
        await QemuIoAsync(image, "write -P 0x66 8M 64k");
        using var repository = BackupRepository.Open(dir["repo"]);

        // The bitmap has history the repository knows nothing about: only a full read is right.
        await using (var server = await ExportAsync(dir, image))
        {
            var first = await BackupNbdAsync(repository, "101", server.Uri("drive-scsi0"), Bitmap);
            Assert.Null(first.Parent);
            Assert.Equal(2L * MiB + 64 * KiB, first.Stats.BytesRead);
        }

        (await Tool.RunAsync("qemu-img", "resize", "-f", "qcow2", image, "20M")).AssertSuccess();
        await QemuIoAsync(image, "write -P 0x77 18M 64k");
        await using (var server = await ExportAsync(dir, image))
        {
            var resized = await BackupNbdAsync(repository, "101", server.Uri("drive-scsi0"), Bitmap);
            Assert.Null(resized.Parent);
            Assert.Equal(20L * MiB, Assert.Single(resized.Devices).Size);
            Assert.Equal(2L * MiB + (2 * 64 * KiB), resized.Stats.BytesRead);
        }

        await AssertRestoresAsync(repository, repository.FindLatest("vm", "101")!.Id, await SnapshotRawAsync(image, dir["v.raw"]), dir["r.raw"]);
    }

    [Fact]
    public async Task IdenticalDisksInTwoGuests_AreStoredOnce()
    {
        using var dir = new TempDir();
        var image = await CreateQcow2WithBitmapAsync(dir, "disk.qcow2", 16 * MiB, 403, (0, 8 * MiB));
        using var repository = BackupRepository.Open(dir["repo"]);
        await using var server = await ExportAsync(dir, image, bitmap: false);

        var results = await Task.WhenAll(
            BackupNbdAsync(repository, "200", server.Uri("drive-scsi0"), bitmap: null),
            BackupNbdAsync(repository, "201", server.Uri("drive-scsi0"), bitmap: null));

        Assert.All(results, r => Assert.Equal(8L * MiB, r.Stats.BytesNew + r.Stats.BytesReused));
        var chunkFiles = Directory.GetFiles(dir["repo/chunks"], "*", SearchOption.AllDirectories).Count(f => Path.GetFileName(f).Length == 64);
        Assert.Equal(2, chunkFiles); // two 4 MiB chunks, whichever guest stored them
        await AssertCleanAsync(repository);
    }
}
