using System.Text.Json.Nodes;
using Engine.Provider.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Engine.Samples.Tests;

/// <summary>
/// The sample's VM backups through qemu-server's call order (<see cref="PveReplay"/>), with qcow2 disks and their
/// persistent dirty bitmaps exported by qemu-nbd: a <c>new</c> bitmap makes a full sparse image, <c>use</c> an
/// incremental over a copy of it, and each restores byte for byte through the path the sample hands to qemu-img.
/// </summary>
[Collection(SampleCollection.Name)]
public sealed class VmBackupTests(SampleProviderFixture sample, ITestOutputHelper output)
{
    private const long MiB = 1L << 20;
    private const string Config = "boot: order=scsi0\nscsi0: local:100/vm-100-disk-0.qcow2,size=8M\n";
    private const string Firewall = "[OPTIONS]\nenable: 1\n";

    [Fact]
    public async Task NewThenUse_OverNbd_FullIsSparse_IncrementalReadsOnlyDirtyRegions_BothRestoreExactly()
    {
        output.WriteLine($"packages {sample.Version}: {sample.Timings}");
        using var dir = new TempDir();
        var scsi = await VmDisk.CreateAsync(dir, "drive-scsi0", 8 * MiB, 1, (0, (int)(2 * MiB)), (5 * MiB, (int)MiB));
        var virtio = await VmDisk.CreateAsync(dir, "drive-virtio1", 4 * MiB, 2, (MiB, (int)MiB));
        VmDisk[] disks = [scsi, virtio];
        await using var provider = ProcessChannel.StartCommand(sample.Command, dir["repo"]);
        Assert.Equal("image-files", (string?)await provider.CallAsync("provider_name"));

        var v1 = await CaptureAsync(disks, "v1");
        var full = await PveReplay.BackupVmAsync(provider, dir, "100", 1764180000, disks, Config, Firewall);
        Assert.Equal("vm/100/2025-11-26T18:00:00Z", full.ArchiveName);
        Assert.All(full.Modes.Values, mode => Assert.Equal("new", mode));
        Assert.Equal(12 * MiB, full.ArchiveSize);
        var image = Path.Combine(dir["repo"], full.ArchiveName, "drive-scsi0.raw");
        Assert.Equal(8 * MiB, new FileInfo(image).Length);
        Assert.True(await ContainerTree.DiskUsageAsync(image) <= 3 * MiB + (64 << 10), $"{image} is not sparse");

        await scsi.WriteAsync("write -P 0x61 1M 64k", "write -P 0x62 6M 64k");
        await virtio.WriteAsync("write -P 0x63 3M 64k");
        var v2 = await CaptureAsync(disks, "v2");
        var incremental = await PveReplay.BackupVmAsync(provider, dir, "100", 1764180100, disks, Config, Firewall);
        Assert.All(incremental.Modes.Values, mode => Assert.Equal("use", mode));
        Assert.Contains(provider.Logs, l => l == ("info", $"drive-scsi0: incremental from {full.ArchiveName}, {128 << 10} dirty bytes"));
        Assert.Contains(provider.Logs, l => l == ("info", $"drive-virtio1: incremental from {full.ArchiveName}, {64 << 10} dirty bytes"));

        var (config, firewall) = await PveReplay.RestoreVmAsync(provider, dir, "backup/" + full.ArchiveName, v1);
        Assert.Equal(Config, config);
        Assert.Equal(Firewall, firewall);
        await PveReplay.RestoreVmAsync(provider, dir, "backup/" + incremental.ArchiveName, v2);
        Assert.Equal(0, await provider.EndAsync());
    }

    /// <summary>
    /// QEMU clears its bitmaps when <c>backup_vm</c> returns, even if vzdump then fails the backup: the next backup
    /// must start a new bitmap, since the archive the bitmap counted from is gone.
    /// </summary>
    [Fact]
    public async Task BackupDiscardedAfterBackupVm_NextBackupStartsANewBitmap()
    {
        using var dir = new TempDir();
        var disk = await VmDisk.CreateAsync(dir, "drive-scsi0", 4 * MiB, 3, (0, (int)MiB));
        await using var provider = ProcessChannel.StartCommand(sample.Command, dir["repo"]);
        await PveReplay.BackupVmAsync(provider, dir, "101", 1764181000, [disk], Config);

        await provider.CallAsync("backup_init", new JsonObject { ["vmid"] = "101", ["vmtype"] = "qemu", ["start-time"] = 1764181100 });
        var modes = await provider.CallAsync("backup_vm_query_incremental", new JsonObject { ["vmid"] = "101", ["volumes"] = new JsonObject { ["drive-scsi0"] = new JsonObject { ["size"] = 4 * MiB } } });
        Assert.Equal("use", (string)modes!["drive-scsi0"]!);
        await using (var export = await disk.ExportAsync())
        {
            await provider.CallAsync("backup_vm", new JsonObject
            {
                ["vmid"] = "101", ["guest-config"] = Config,
                ["volumes"] = new JsonObject { ["drive-scsi0"] = new JsonObject { ["nbd-path"] = export.Socket, ["bitmap-mode"] = "reuse", ["bitmap-name"] = VmDisk.Bitmap } },
            });
        }

        await disk.CommitBitmapAsync();
        await provider.CallAsync("backup_cleanup", new JsonObject { ["vmid"] = "101", ["vmtype"] = "qemu", ["success"] = 0, ["info"] = new JsonObject { ["error"] = "vzdump failed later" } });
        Assert.Contains(provider.Logs, l => l.Level == "warn" && l.Message.Contains("removed vm/101/", StringComparison.Ordinal));

        await disk.WriteAsync("write -P 0x44 2M 64k");
        var v3 = await CaptureAsync([disk], "v3");
        var next = await PveReplay.BackupVmAsync(provider, dir, "101", 1764181200, [disk], Config);
        Assert.Equal("new", next.Modes["drive-scsi0"]);
        await PveReplay.RestoreVmAsync(provider, dir, next.ArchiveName, v3);
    }

    private static async Task<Dictionary<string, string>> CaptureAsync(IEnumerable<VmDisk> disks, string name)
    {
        var raw = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var disk in disks)
        {
            raw[disk.Device] = await disk.CaptureAsync(name);
        }

        return raw;
    }
}
