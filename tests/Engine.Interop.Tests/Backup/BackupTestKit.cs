using System.Globalization;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Snapshots;
using Engine.Backup.Restore;
using Engine.Backup.VmBackup;
using Engine.Interop.Tests.Client;
using Engine.Interop.Tests.Infrastructure;
using Engine.Sources;

namespace Engine.Interop.Tests.Backup;

/// <summary>What the backup tests share: qcow2 images with bitmaps, qemu-nbd exports, restores checked by qemu-img.</summary>
internal static class BackupTestKit
{
    public const string Bitmap = "b0";

    /// <summary>A qcow2 image holding random data in <paramref name="data"/> ranges, with an empty persistent bitmap.</summary>
    public static async Task<string> CreateQcow2WithBitmapAsync(TempDir dir, string name, long size, int seed, params (long Offset, int Length)[] data)
    {
        var raw = DiskFiles.CreateSparse(dir[name + ".seed.raw"], size, seed, data);
        var qcow2 = dir[name];
        (await Tool.RunAsync("qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, qcow2)).AssertSuccess();
        File.Delete(raw);
        (await Tool.RunAsync("qemu-img", "bitmap", "--add", "--enable", qcow2, Bitmap)).AssertSuccess();
        return qcow2;
    }

    /// <summary>Runs qemu-io commands (each one -c) against a qcow2 image; writes dirty its enabled bitmaps.</summary>
    public static async Task QemuIoAsync(string image, params string[] commands)
    {
        var args = new List<string> { "-f", "qcow2" };
        foreach (var command in commands)
        {
            args.Add("-c");
            args.Add(command);
        }

        args.Add(image);
        (await Tool.RunAsync("qemu-io", args.ToArray())).AssertSuccess();
    }

    /// <summary>qemu-nbd exporting <paramref name="image"/> read-only with the bitmap, persistent, on a Unix socket.</summary>
    public static Task<ServerProcess> ExportAsync(TempDir dir, string image, string export = "drive-scsi0", string format = "qcow2", bool bitmap = true)
    {
        var socket = dir["q-" + Guid.NewGuid().ToString("N")[..8] + ".sock"];
        var args = new List<string> { "-k", socket, "-r", "-t", "--shared=8", "-f", format, "-x", export };
        if (bitmap)
        {
            args.AddRange(["-B", Bitmap]);
        }

        args.Add(image);
        return ServerProcess.StartUnixAsync("qemu-nbd", socket, args);
    }

    /// <summary>The image's content as a raw file, for qemu-img compare against a restore.</summary>
    public static async Task<string> SnapshotRawAsync(string image, string path)
    {
        (await Tool.RunAsync("qemu-img", "convert", "-f", "qcow2", "-O", "raw", image, path)).AssertSuccess();
        return path;
    }

    /// <summary>Sum of the dirty extents nbdinfo reports for the bitmap.</summary>
    public static async Task<long> DirtyBytesAsync(string uri) =>
        (await ClientInterop.NbdinfoMapAsync(uri, "qemu:dirty-bitmap:" + Bitmap)).Where(e => (e.Type & 1) != 0).Sum(e => e.Length);

    /// <summary>One VM backup of one NBD disk through the library.</summary>
    public static async Task<SnapshotManifest> BackupNbdAsync(BackupRepository repository, string vmid, string uri, string? bitmap, VmBackupOptions? options = null, string device = "drive-scsi0")
    {
        await using var source = await NbdVolumeSource.ConnectAsync(device, uri, bitmap);
        return await new VmBackupEngine(repository).BackupAsync(new VmBackupRequest { Vmid = vmid, Volumes = [source], GuestConfig = "memory: 512\n" }, options);
    }

    /// <summary>Restores a disk through <see cref="SnapshotRestorer"/> and has qemu-img compare it with the expected raw image.</summary>
    public static async Task AssertRestoresAsync(BackupRepository repository, SnapshotId snapshot, string expectedRaw, string restorePath, string device = "drive-scsi0")
    {
        await SnapshotRestorer.RestoreAsync(repository, snapshot, device, restorePath);
        (await Tool.RunAsync("qemu-img", "compare", "-f", "raw", "-F", "raw", expectedRaw, restorePath)).AssertSuccess();
    }

    /// <summary>A verify with rehashing that must come out clean.</summary>
    public static async Task AssertCleanAsync(BackupRepository repository)
    {
        var report = await repository.VerifyAsync(null, null, CancellationToken.None);
        Assert.True(report.IsClean, "verify found problems: " + string.Join("; ", report.BadChunks.Select(c => $"{c.Digest} {c.Check}").Concat(report.BadSnapshots.Select(s => $"{s.Snapshot} {s.Reason}"))));
    }

    /// <summary>A dirty map in nbdinfo's text layout for file sources.</summary>
    public static string FormatMap(IEnumerable<(long Offset, long Length, bool Dirty)> extents) =>
        string.Concat(extents.Select(e => string.Create(CultureInfo.InvariantCulture, $"{e.Offset,10} {e.Length,10}    {(e.Dirty ? 1 : 0)}  {(e.Dirty ? "dirty" : "clean")}\n")));
}
