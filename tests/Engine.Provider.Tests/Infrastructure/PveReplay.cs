using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Engine.Provider.Tests.Infrastructure;

/// <summary>What one replayed VM backup produced.</summary>
internal sealed record VmBackupOutcome(string ArchiveName, IReadOnlyDictionary<string, string> Modes, long? ArchiveSize);

/// <summary>
/// Replays qemu-server's calls for a VM backup (<c>archive_external</c>) and restore
/// (<c>restore_external_archive</c>) in their order, with QEMU's side played by qemu-nbd exports and qemu-img.
/// </summary>
internal static partial class PveReplay
{
    [GeneratedRegex("^[A-Za-z0-9_.+/:-]+$")]
    private static partial Regex ArchiveName();

    /// <summary>
    /// job_init, backup_init, backup_get_mechanism, backup_vm_query_incremental, backup_vm, backup_cleanup,
    /// backup_handle_log_file, job_cleanup. A <c>new</c> answer recreates the bitmap before the exports start, as
    /// QEMU does; after a successful <c>backup_vm</c> the bitmaps start over (QEMU commits them).
    /// </summary>
    public static async Task<VmBackupOutcome> BackupVmAsync(IProviderChannel provider, TempDir dir, string vmid, long startTime, IReadOnlyList<VmDisk> disks,
        string guestConfig, string? firewallConfig = null)
    {
        await provider.CallAsync("job_init", new JsonObject { ["start-time"] = startTime });
        var init = await provider.CallAsync("backup_init", new JsonObject { ["vmid"] = vmid, ["vmtype"] = "qemu", ["start-time"] = startTime });
        var archive = (string)init!["archive-name"]!;
        Assert.Matches(ArchiveName(), archive);
        Assert.Equal("nbd", (string)(await provider.CallAsync("backup_get_mechanism", new JsonObject { ["vmid"] = vmid, ["vmtype"] = "qemu" }))!);

        var sizes = new JsonObject();
        foreach (var disk in disks)
        {
            sizes[disk.Device] = new JsonObject { ["size"] = disk.Size };
        }

        var answer = (await provider.CallAsync("backup_vm_query_incremental", new JsonObject { ["vmid"] = vmid, ["volumes"] = sizes }))!.AsObject();
        var modes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var disk in disks)
        {
            var mode = (string)answer[disk.Device]!;
            Assert.Contains(mode, (string[])["new", "use", "none"]);
            modes[disk.Device] = mode;
            if (mode == "new")
            {
                await disk.RecreateBitmapAsync();
            }
        }

        var exports = new List<QemuNbdExport>();
        var success = false;
        string? error = null;
        try
        {
            var volumes = new JsonObject();
            foreach (var disk in disks)
            {
                var mode = modes[disk.Device];
                var export = await disk.ExportAsync(bitmap: mode != "none");
                exports.Add(export);
                var volume = new JsonObject { ["nbd-path"] = export.Socket, ["size"] = disk.Size, ["bitmap-mode"] = mode switch { "use" => "reuse", "new" => "new", _ => "none" } };
                if (mode != "none")
                {
                    volume["bitmap-name"] = VmDisk.Bitmap;
                }

                volumes[disk.Device] = volume;
            }

            var info = new JsonObject { ["bandwidth-limit"] = 0 };
            if (firewallConfig is not null)
            {
                info["firewall-config"] = firewallConfig;
            }

            await provider.CallAsync("backup_vm", new JsonObject { ["vmid"] = vmid, ["guest-config"] = guestConfig, ["volumes"] = volumes, ["info"] = info });
            success = true;
        }
        catch (ProviderCallException e)
        {
            error = e.Message;
        }
        finally
        {
            foreach (var export in exports)
            {
                await export.DisposeAsync();
            }
        }

        if (success)
        {
            foreach (var disk in disks)
            {
                if (modes[disk.Device] != "none")
                {
                    await disk.CommitBitmapAsync();
                }
            }
        }

        var cleanup = await provider.CallAsync("backup_cleanup", new JsonObject
        {
            ["vmid"] = vmid, ["vmtype"] = "qemu", ["success"] = success ? 1 : 0, ["info"] = error is null ? new JsonObject() : new JsonObject { ["error"] = error },
        });
        var log = dir[$"task-{vmid}-{startTime}.log"];
        await File.WriteAllTextAsync(log, $"INFO: starting new backup job: vzdump {vmid}\nINFO: archive {archive}\n");
        await provider.CallAsync("backup_handle_log_file", new JsonObject { ["vmid"] = vmid, ["filename"] = log });
        await provider.CallAsync("job_cleanup");
        Assert.True(success, $"backup_vm failed: {error}");
        var size = cleanup!["stats"]?["archive-size"];
        return new VmBackupOutcome(archive, modes, size is null ? null : (long)size);
    }

    /// <summary>
    /// restore_get_mechanism, archive_get_guest_config, archive_get_firewall_config, restore_vm_init, then per device
    /// restore_vm_volume_init, PVE's checks and <c>qemu-img convert -p -n -f raw PATH -O raw TARGET</c>,
    /// restore_vm_volume_cleanup (always), and restore_vm_cleanup (always). Each target is compared with
    /// <paramref name="expected"/> by <c>qemu-img compare</c>.
    /// </summary>
    public static async Task<(string GuestConfig, string? FirewallConfig)> RestoreVmAsync(IProviderChannel provider, TempDir dir, string volname,
        IReadOnlyDictionary<string, string> expected)
    {
        var mechanism = (await provider.CallAsync("restore_get_mechanism", new JsonObject { ["volname"] = volname }))!;
        Assert.Equal("qemu-img", (string)mechanism["mechanism"]!);
        Assert.Equal("qemu", (string)mechanism["vmtype"]!);
        var config = (string)(await provider.CallAsync("archive_get_guest_config", new JsonObject { ["volname"] = volname }))!;
        var firewall = (string?)await provider.CallAsync("archive_get_firewall_config", new JsonObject { ["volname"] = volname });

        var paths = new List<string>();
        try
        {
            var devices = (await provider.CallAsync("restore_vm_init", new JsonObject { ["volname"] = volname }))!.AsObject();
            Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), devices.Select(d => d.Key).Order(StringComparer.Ordinal));
            foreach (var (device, sizeNode) in devices)
            {
                var size = (long)sizeNode!["size"]!;
                Assert.Equal(new FileInfo(expected[device]).Length, size);
                var target = dir[$"restored-{device}-{Guid.NewGuid():N}.raw"];
                (await Tool.RunAsync("qemu-img", "create", "-f", "raw", target, size.ToString(System.Globalization.CultureInfo.InvariantCulture))).AssertSuccess();
                try
                {
                    var path = (string)(await provider.CallAsync("restore_vm_volume_init", new JsonObject { ["volname"] = volname, ["device-name"] = device, ["info"] = new JsonObject() }))!["qemu-img-path"]!;
                    paths.Add(path);
                    Assert.True(File.Exists(path), $"{path} is not a file");
                    var info = JsonNode.Parse((await Tool.RunAsync("qemu-img", "info", "-f", "raw", "--output=json", path)).AssertSuccess().Stdout)!;
                    Assert.Null(info["backing-filename"]);
                    Assert.Equal(size, (long)info["virtual-size"]!);
                    (await Tool.RunAsync("qemu-img", "convert", "-p", "-n", "-f", "raw", path, "-O", "raw", target)).AssertSuccess();
                }
                finally
                {
                    await provider.CallAsync("restore_vm_volume_cleanup", new JsonObject { ["volname"] = volname, ["device-name"] = device, ["info"] = new JsonObject() });
                }

                (await Tool.RunAsync("qemu-img", "compare", "-f", "raw", "-F", "raw", expected[device], target)).AssertSuccess();
            }
        }
        finally
        {
            await provider.CallAsync("restore_vm_cleanup", new JsonObject { ["volname"] = volname });
        }

        foreach (var path in paths)
        {
            Assert.False(File.Exists(path), $"{path} outlived restore_vm_cleanup");
        }

        return (config, firewall);
    }
}
