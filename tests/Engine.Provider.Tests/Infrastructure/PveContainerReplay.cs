using System.Text.Json.Nodes;

namespace Engine.Provider.Tests.Infrastructure;

/// <summary>A container backup done as vzdump does it, and a restore done as pve-container does it.</summary>
internal static class PveContainerReplay
{
    /// <summary>vzdump's usual exclusions for containers.</summary>
    public static readonly string[] DefaultExcludes = ["/tmp/?*", "/var/tmp/?*", "/var/run/?*.pid"];

    /// <summary>PVE's common tar flags (pve-storage's COMMON_TAR_FLAGS).</summary>
    private static readonly string[] TarFlags =
    [
        "--one-file-system", "-p", "--sparse", "--numeric-owner", "--acls", "--xattrs",
        "--xattrs-include=user.*", "--xattrs-include=security.capability", "--warning=no-file-ignored", "--warning=no-xattr-write",
    ];

    /// <summary>
    /// job_init, backup_init, backup_get_mechanism, backup_container_prepare, backup_container (on
    /// <paramref name="fork"/>: the fresh process PVE's fork inside the container's namespaces starts, which knows the
    /// backup only by its archive name), backup_cleanup, backup_handle_log_file, job_cleanup. Returns the archive name
    /// and backup_cleanup's archive-size.
    /// </summary>
    public static async Task<(string Archive, long? Size)> BackupAsync(IProviderChannel provider, Func<IProviderChannel>? fork, TempDir dir, string vmid, long startTime,
        string root, long backupUserId, IReadOnlyList<string> excludes, string config)
    {
        await provider.CallAsync("job_init", new JsonObject { ["start-time"] = startTime });
        var archive = (string)(await provider.CallAsync("backup_init", new JsonObject { ["vmid"] = vmid, ["vmtype"] = "lxc", ["start-time"] = startTime }))!["archive-name"]!;
        Assert.Equal("directory", (string)(await provider.CallAsync("backup_get_mechanism", new JsonObject { ["vmid"] = vmid, ["vmtype"] = "lxc" }))!);
        JsonObject Info() => new()
        {
            ["directory"] = root, ["sources"] = new JsonArray("."), ["backup-user-id"] = backupUserId, ["firewall-config"] = "", ["bandwidth-limit"] = 0,
        };
        await provider.CallAsync("backup_container_prepare", new JsonObject { ["vmid"] = vmid, ["info"] = Info() });

        var request = new JsonObject
        {
            ["vmid"] = vmid, ["guest-config"] = config, ["exclude-patterns"] = new JsonArray([.. excludes.Select(e => JsonValue.Create(e))]), ["info"] = Info(),
        };
        string? error = null;
        try
        {
            if (fork is null)
            {
                await provider.CallAsync("backup_container", request);
            }
            else
            {
                request["archive-name"] = archive;
                await using var child = fork();
                await child.CallAsync("backup_container", request);
            }
        }
        catch (ProviderCallException e)
        {
            error = e.Message;
        }

        var cleanup = await provider.CallAsync("backup_cleanup", new JsonObject
        {
            ["vmid"] = vmid, ["vmtype"] = "lxc", ["success"] = error is null ? 1 : 0, ["info"] = error is null ? new JsonObject() : new JsonObject { ["error"] = error },
        });
        var log = dir[$"task-{vmid}-{startTime}.log"];
        await File.WriteAllTextAsync(log, $"INFO: starting new backup job: vzdump {vmid}\n");
        await provider.CallAsync("backup_handle_log_file", new JsonObject { ["vmid"] = vmid, ["filename"] = log });
        await provider.CallAsync("job_cleanup");
        Assert.True(error is null, $"backup_container failed: {error}");
        var size = cleanup!["stats"]?["archive-size"];
        return (archive, size is null ? null : (long)size);
    }

    /// <summary>
    /// restore_get_mechanism, the configuration getters and restore_container_init with pve-container's storeid, then
    /// what PVE does with the answer, into <paramref name="target"/> (which it created beforehand, as
    /// <paramref name="rootLike"/>): a tar file is checked with <c>tar -tvf</c> (an <c>sbin</c> entry, at least 10
    /// members, no multi-volume members) and extracted with PVE's flags; a directory is tar-piped with the same
    /// flags. restore_container_cleanup follows, always. Returns the mechanism.
    /// </summary>
    public static async Task<string> RestoreAsync(IProviderChannel provider, string volname, string target, string rootLike, string expectedConfig)
    {
        var mechanism = (await provider.CallAsync("restore_get_mechanism", new JsonObject { ["volname"] = volname, ["storeid"] = "engine-store" }))!;
        Assert.Equal("lxc", (string)mechanism["vmtype"]!);
        Assert.Equal(expectedConfig, (string)(await provider.CallAsync("archive_get_guest_config", new JsonObject { ["volname"] = volname, ["storeid"] = "engine-store" }))!);
        Assert.Equal("", (string?)await provider.CallAsync("archive_get_firewall_config", new JsonObject { ["volname"] = volname, ["storeid"] = "engine-store" }));

        Directory.CreateDirectory(target);
        (await Tool.RunAsync("sh", "-c", $"chown --reference='{rootLike}' '{target}' && chmod --reference='{rootLike}' '{target}'")).AssertSuccess();
        string? handedOver = null;
        try
        {
            var source = (await provider.CallAsync("restore_container_init", new JsonObject { ["volname"] = volname, ["storeid"] = "engine-store", ["info"] = new JsonObject() }))!;
            string[] extract = ["xpf", "-", "--totals", .. TarFlags, "-C", target, "--skip-old-files", "--anchored", "--exclude", "./dev/*"];
            if ((string)mechanism["mechanism"]! == "tar")
            {
                var tar = handedOver = (string)source["tar-path"]!;
                Assert.True(File.Exists(tar) && !new FileInfo(tar).Attributes.HasFlag(FileAttributes.Directory), $"tar-path {tar} is not a regular file");
                var listing = (await Tool.RunAsync("tar", "-tvf", tar)).AssertSuccess().Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                Assert.True(listing.Length >= 10, $"{listing.Length} members");
                Assert.DoesNotContain(listing, line => line.StartsWith('M'));
                Assert.Contains(listing, line => line.EndsWith(" ./sbin/", StringComparison.Ordinal));
                (await Tool.RunAsync("tar", extract, TimeSpan.FromMinutes(2), stdinFile: tar)).AssertSuccess();
            }
            else
            {
                Assert.Equal("directory", (string)mechanism["mechanism"]!);
                var tree = handedOver = (string)source["archive-directory"]!;
                Assert.True(Directory.Exists(Path.Combine(tree, "sbin")), $"archive-directory {tree} has no sbin");
                var create = string.Join(' ', (string[])["tar", "cpf", "-", "--totals", .. TarFlags, "-C", $"'{tree}'", "."]);
                (await Tool.RunAsync("bash", "-c", $"set -o pipefail; {create} | tar {string.Join(' ', extract.Select(a => $"'{a}'"))}")).AssertSuccess();
            }
        }
        finally
        {
            await provider.CallAsync("restore_container_cleanup", new JsonObject { ["volname"] = volname, ["storeid"] = "engine-store", ["info"] = new JsonObject() });
        }

        Assert.False(Path.Exists(handedOver), $"restore_container_cleanup left {handedOver}");

        // The root was PVE's own (created beforehand, --skip-old-files): give it the archived root's time to compare.
        (await Tool.RunAsync("touch", "-r", rootLike, target)).AssertSuccess();
        return (string)mechanism["mechanism"]!;
    }
}
