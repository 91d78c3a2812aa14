using System.Text.Json.Nodes;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Snapshots;
using Engine.Provider.Api;
using Engine.Provider.Tests.Infrastructure;

namespace Engine.Provider.Tests;

/// <summary>
/// The reference provider driven by qemu-server's call order, against qcow2 disks exported by qemu-nbd with dirty
/// bitmaps that qemu-io dirties, and restored through qemu-img.
/// </summary>
public sealed class VmProviderTests
{
    private const long MiB = 1L << 20;
    private const long KiB = 1L << 10;
    private const string Config = "boot: order=scsi0\nmemory: 512\nscsi0: local:100/vm-100-disk-0.qcow2,size=16M\nvirtio1: local:100/vm-100-disk-1.qcow2,size=8M\n";
    private const string Firewall = "[OPTIONS]\nenable: 1\n";

    [Fact]
    public async Task FullThenIncrementalThenResize_QueryAnswersAndRestoresAreExact()
    {
        using var dir = new TempDir();
        var scsi0 = await VmDisk.CreateAsync(dir, "drive-scsi0", 16 * MiB, 1, (0, (int)(3 * MiB)), (9 * MiB, (int)MiB));
        var virtio1 = await VmDisk.CreateAsync(dir, "drive-virtio1", 8 * MiB, 2, (MiB, (int)(2 * MiB)));
        await using var provider = new InProcessChannel(dir["repo"]);

        var full = await PveReplay.BackupVmAsync(provider, dir, "100", 1764140000, [scsi0, virtio1], Config, Firewall);
        Assert.Equal("new", full.Modes["drive-scsi0"]);
        Assert.Equal("new", full.Modes["drive-virtio1"]);
        Assert.Equal(24 * MiB, full.ArchiveSize);
        var v1 = new Dictionary<string, string> { ["drive-scsi0"] = await scsi0.CaptureAsync("v1"), ["drive-virtio1"] = await virtio1.CaptureAsync("v1") };

        await scsi0.WriteAsync("write -P 0x33 4190208 8192", "write -P 0x44 12M 64k"); // across a chunk boundary; into a hole
        await virtio1.WriteAsync("write -z 1M 64k");                                   // zeroes over data
        var incremental = await PveReplay.BackupVmAsync(provider, dir, "100", 1764140100, [scsi0, virtio1], Config, Firewall);
        Assert.Equal("use", incremental.Modes["drive-scsi0"]);
        Assert.Equal("use", incremental.Modes["drive-virtio1"]);

        await virtio1.ResizeAsync(12 * MiB);
        await virtio1.WriteAsync("write -P 0x55 10M 64k");
        await scsi0.WriteAsync("write -P 0x66 1M 64k");
        var resized = await PveReplay.BackupVmAsync(provider, dir, "100", 1764140200, [scsi0, virtio1], Config, Firewall);
        Assert.Equal("use", resized.Modes["drive-scsi0"]);
        Assert.Equal("new", resized.Modes["drive-virtio1"]);
        Assert.Equal(28 * MiB, resized.ArchiveSize);
        var v3 = new Dictionary<string, string> { ["drive-scsi0"] = await scsi0.CaptureAsync("v3"), ["drive-virtio1"] = await virtio1.CaptureAsync("v3") };

        using (var repository = BackupRepository.Open(dir["repo"], create: false))
        {
            var first = repository.ReadManifest(SnapshotId.Parse(full.ArchiveName));
            var second = repository.ReadManifest(SnapshotId.Parse(incremental.ArchiveName));
            var third = repository.ReadManifest(SnapshotId.Parse(resized.ArchiveName));
            Assert.Null(first.Parent);
            Assert.Equal(first.Id, second.Parent);
            Assert.Equal(second.Id, third.Parent);

            // 64 KiB bitmap granularity: 128 KiB around the boundary write, 64 KiB each for the other two writes.
            Assert.Equal(256 * KiB, second.Stats.BytesRead);
            Assert.True(second.Stats.ChunksReused > 0, "unchanged chunks come from the previous snapshot");

            // scsi0 reads its one dirty cluster; the resized virtio1 is read in full, but only where it holds data
            // (2 MiB less the zeroed 64 KiB, plus the new 64 KiB).
            Assert.Equal(64 * KiB + 2 * MiB, third.Stats.BytesRead);
        }

        var (config, firewall) = await PveReplay.RestoreVmAsync(provider, dir, full.ArchiveName, v1);
        Assert.Equal(Config, config);
        Assert.Equal(Firewall, firewall);
        await PveReplay.RestoreVmAsync(provider, dir, "backup/" + resized.ArchiveName, v3);
        Assert.Contains(provider.Logs, l => l.Level == "info" && l.Message.Contains("incremental", StringComparison.Ordinal));
        Assert.True(File.Exists(Path.Combine(dir["repo"], "logs", "vm", "100", "2025-11-26T06-56-40Z.log")), "backup_handle_log_file keeps the task log");
    }

    [Fact]
    public async Task BackupCleanupWithoutSuccess_DiscardsTheSnapshot_AndTheNextQueryAnswersNew()
    {
        using var dir = new TempDir();
        var disk = await VmDisk.CreateAsync(dir, "drive-scsi0", 8 * MiB, 3, (0, (int)MiB));
        await using var provider = new InProcessChannel(dir["repo"]);
        await PveReplay.BackupVmAsync(provider, dir, "101", 1764150000, [disk], Config);

        // PVE fails after backup_vm returned (say, writing the configuration): backup_cleanup with success 0.
        var archive = (string)(await provider.CallAsync("backup_init", new JsonObject { ["vmid"] = "101", ["vmtype"] = "qemu", ["start-time"] = 1764150100 }))!["archive-name"]!;
        await using (var export = await disk.ExportAsync())
        {
            var volumes = new JsonObject { ["drive-scsi0"] = new JsonObject { ["nbd-path"] = export.Socket, ["bitmap-mode"] = "reuse", ["bitmap-name"] = VmDisk.Bitmap } };
            await provider.CallAsync("backup_vm", new JsonObject { ["vmid"] = "101", ["guest-config"] = Config, ["volumes"] = volumes, ["info"] = new JsonObject() });
        }

        using (var repository = BackupRepository.Open(dir["repo"], create: false))
        {
            Assert.Equal(2, repository.ListSnapshots("vm", "101").Count);
        }

        var cleanup = (await provider.CallAsync("backup_cleanup", new JsonObject { ["vmid"] = "101", ["vmtype"] = "qemu", ["success"] = 0, ["info"] = new JsonObject { ["error"] = "job aborted" } }))!;
        Assert.Null(cleanup["stats"]);
        using (var repository = BackupRepository.Open(dir["repo"], create: false))
        {
            var left = Assert.Single(repository.ListSnapshots("vm", "101"));
            Assert.NotEqual(archive, left.Id.ToString());

            // The previous snapshot goes missing too: only a new bitmap (a full backup) is right.
            repository.DeleteSnapshot(left.Id);
        }

        var answer = (await provider.CallAsync("backup_vm_query_incremental", new JsonObject { ["vmid"] = "101", ["volumes"] = new JsonObject { ["drive-scsi0"] = new JsonObject { ["size"] = 8 * MiB } } }))!;
        Assert.Equal("new", (string)answer["drive-scsi0"]!);
    }

    [Fact]
    public async Task FailedBackupVm_LeavesNoSnapshot_AndRestoreCallsAcceptTheStoreIdForm()
    {
        using var dir = new TempDir();
        var disk = await VmDisk.CreateAsync(dir, "drive-scsi0", 4 * MiB, 4, (0, (int)MiB));
        await using var provider = new InProcessChannel(dir["repo"]);
        await provider.CallAsync("backup_init", new JsonObject { ["vmid"] = "102", ["vmtype"] = "qemu", ["start-time"] = 1764160000 });
        var volumes = new JsonObject { ["drive-scsi0"] = new JsonObject { ["nbd-path"] = dir["no-such.sock"], ["bitmap-mode"] = "none" } };
        await Assert.ThrowsAsync<ProviderCallException>(() => provider.CallAsync("backup_vm", new JsonObject { ["vmid"] = "102", ["guest-config"] = Config, ["volumes"] = volumes }));
        await provider.CallAsync("backup_cleanup", new JsonObject { ["vmid"] = "102", ["vmtype"] = "qemu", ["success"] = false });
        using (var repository = BackupRepository.Open(dir["repo"], create: false))
        {
            Assert.Empty(repository.ListSnapshots("vm", "102"));
        }

        var good = await PveReplay.BackupVmAsync(provider, dir, "102", 1764160100, [disk], Config);
        Assert.Equal("vm/102/2025-11-26T12:28:20Z", good.ArchiveName);
        var withStore = new JsonObject { ["volname"] = "backup/" + good.ArchiveName, ["storeid"] = "engine-store" };
        Assert.Equal(Config, (string)(await provider.CallAsync("archive_get_guest_config", withStore.DeepClone().AsObject()))!);
        Assert.Null(await provider.CallAsync("archive_get_firewall_config", withStore.DeepClone().AsObject()));
        Assert.Equal("qemu-img", (string)(await provider.CallAsync("restore_get_mechanism", withStore))!["mechanism"]!);
        Assert.True(ArchiveNames.IsValid(good.ArchiveName));
    }
}
