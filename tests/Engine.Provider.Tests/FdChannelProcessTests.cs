using System.Globalization;
using System.Text.Json.Nodes;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Snapshots;
using Engine.Provider.Tests.Infrastructure;

namespace Engine.Provider.Tests;

/// <summary>
/// The file-handle mechanism across the process boundary, as the Perl plugin drives it: the snapshot access (an
/// nbdfuse file opened O_DIRECT) is sent to <c>engine provider --fd-channel N</c> by SCM_RIGHTS, and the provider
/// pulls <c>next-dirty-region</c> back from us in batches while <c>backup_vm</c> runs.
/// </summary>
public sealed class FdChannelProcessTests
{
    private const long MiB = 1L << 20;
    private const string Device = "drive-scsi0";

    [Fact]
    public async Task FileHandlesCrossByScmRights_DirtyRegionsArePulledOneBatchAtATime_AndRestoresAreExact()
    {
        using var dir = new TempDir();
        var disk = await VmDisk.CreateAsync(dir, Device, 8 * MiB, 7, (0, (int)(2 * MiB)), (5 * MiB, (int)MiB));
        using var pair = new DescriptorSocketPair();
        await using var provider = ProcessChannel.Start(dir["repo"], "--mechanism", "file-handle", "--fd-channel", pair.ChildDescriptor.ToString(CultureInfo.InvariantCulture));
        pair.CloseChildEnd();

        var first = await BackupAsync(provider, pair, dir, disk, 1764190000, token: 1, (_, _) => Task.CompletedTask);
        Assert.Equal("new", first.Mode);

        // Three separate dirty extents; the replies carry one region each, so the provider asks four times.
        await disk.WriteAsync("write -P 0x61 1M 64k", "write -P 0x62 6M 64k", "write -P 0x63 7M 64k");
        var v2 = await disk.CaptureAsync("v2");
        var calls = new List<JsonObject>();
        var second = await BackupAsync(provider, pair, dir, disk, 1764190100, token: 2, async (call, _) =>
        {
            calls.Add(call);
            if (calls.Count == 1)
            {
                // One request at a time: a request while backup_vm runs is refused, and backup_vm goes on.
                var id = await provider.SendAsync("provider_name");
                var refused = await provider.ReadMessageAsync("provider_name while backup_vm runs");
                Assert.Equal(id, (long)refused["id"]!);
                Assert.Contains("while another one runs", (string)refused["error"]!["message"]!, StringComparison.Ordinal);
            }
        });
        Assert.Equal("use", second.Mode);
        Assert.Equal(4, calls.Count);
        Assert.All(calls, c =>
        {
            Assert.Equal("next-dirty-region", (string)c["method"]!);
            Assert.Equal(Device, (string)c["device"]!);
            Assert.Equal(4096, (int)c["max"]!);
        });
        Assert.Equal(4, calls.Select(c => (string)c["id"]!).Distinct().Count());
        using (var repository = BackupRepository.Open(dir["repo"], create: false))
        {
            var manifest = repository.ReadManifest(SnapshotId.Parse(second.Archive));
            Assert.Equal(SnapshotId.Parse(first.Archive), manifest.Parent);
            Assert.Equal(3 * (64L << 10), manifest.Stats.BytesRead);
        }

        await PveReplay.RestoreVmAsync(provider, dir, second.Archive, new Dictionary<string, string> { [Device] = v2 });

        var missing = await Assert.ThrowsAsync<ProviderCallException>(() => provider.CallAsync("backup_vm", new JsonObject
        {
            ["vmid"] = "300",
            ["volumes"] = new JsonObject { [Device] = new JsonObject { ["bitmap-mode"] = "none", ["file-handle"] = new JsonObject { ["fd-token"] = 99 } } },
        }));
        Assert.Contains("fd-token 99: no descriptor was sent", missing.Message, StringComparison.Ordinal);
        Assert.Equal(0, await provider.EndAsync());
    }

    /// <summary>
    /// A malformed line while backup_vm waits for a reply is refused, and the request after it is refused as well
    /// (one at a time): the host must not count the refusal as backup_vm's answer and stop reading to wait for
    /// backup_vm, which waits for the reply behind that request.
    /// </summary>
    [Fact]
    public async Task MalformedLineWhileBackupVmWaitsForAReply_IsRefused_AndTheHostKeepsReading()
    {
        using var dir = new TempDir();
        var disk = await VmDisk.CreateAsync(dir, Device, 4 * MiB, 8, (0, (int)MiB));
        using var pair = new DescriptorSocketPair();
        await using var provider = ProcessChannel.Start(dir["repo"], "--mechanism", "file-handle", "--fd-channel", pair.ChildDescriptor.ToString(CultureInfo.InvariantCulture));
        pair.CloseChildEnd();
        await BackupAsync(provider, pair, dir, disk, 1764190000, token: 1, (_, _) => Task.CompletedTask);
        await disk.WriteAsync("write -P 0x61 2M 64k");

        var second = await BackupAsync(provider, pair, dir, disk, 1764190100, token: 2, async (_, number) =>
        {
            if (number == 1)
            {
                await provider.Input.WriteAsync("{not json\n"u8.ToArray());
                await provider.Input.FlushAsync();
                var malformed = await provider.ReadMessageAsync("the malformed line");
                Assert.True(malformed.ContainsKey("id") && malformed["id"] is null, malformed.ToJsonString());
                var id = await provider.SendAsync("provider_name");
                var refused = await provider.ReadMessageAsync("provider_name after the malformed line");
                Assert.Equal(id, (long)refused["id"]!);
                Assert.Contains("while another one runs", (string)refused["error"]!["message"]!, StringComparison.Ordinal);
            }
        });
        Assert.Equal("use", second.Mode);
        Assert.Equal(0, await provider.EndAsync());
    }

    [Fact]
    public async Task FileHandleWithoutTheFdChannel_IsRefusedByName()
    {
        using var dir = new TempDir();
        await using var provider = new InProcessChannel(dir["repo"]);
        var error = await Assert.ThrowsAsync<ProviderCallException>(() => provider.CallAsync("backup_vm", new JsonObject
        {
            ["vmid"] = "300",
            ["volumes"] = new JsonObject { [Device] = new JsonObject { ["file-handle"] = new JsonObject { ["fd-token"] = 1 } } },
        }));
        Assert.Contains("drive-scsi0: a file-handle volume needs the fd channel", error.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// qemu-server's order with the file-handle mechanism. Regions come from <c>nbdinfo --map</c> of the bitmap, one
    /// per reply; <paramref name="onCall"/> sees each call before it is answered.
    /// </summary>
    private static async Task<(string Archive, string Mode)> BackupAsync(ProcessChannel provider, DescriptorSocketPair pair, TempDir dir, VmDisk disk, long start, long token,
        Func<JsonObject, int, Task> onCall)
    {
        await provider.CallAsync("job_init", new JsonObject { ["start-time"] = start });
        var archive = (string)(await provider.CallAsync("backup_init", new JsonObject { ["vmid"] = "300", ["vmtype"] = "qemu", ["start-time"] = start }))!["archive-name"]!;
        Assert.Equal("file-handle", (string)(await provider.CallAsync("backup_get_mechanism", new JsonObject { ["vmid"] = "300", ["vmtype"] = "qemu" }))!);
        var query = new JsonObject { ["vmid"] = "300", ["volumes"] = new JsonObject { [Device] = new JsonObject { ["size"] = disk.Size } } };
        var mode = (string)(await provider.CallAsync("backup_vm_query_incremental", query))![Device]!;
        if (mode == "new")
        {
            await disk.RecreateBitmapAsync();
        }

        await using (var export = await disk.ExportAsync())
        {
            var uri = $"nbd+unix:///{Device}?socket={export.Socket}";
            var regions = new Queue<(long, long)>();
            foreach (var line in (await Tool.RunAsync("nbdinfo", "--map=qemu:dirty-bitmap:" + VmDisk.Bitmap, uri)).AssertSuccess().Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if ((int.Parse(fields[2], CultureInfo.InvariantCulture) & 1) != 0)
                {
                    regions.Enqueue((long.Parse(fields[0], CultureInfo.InvariantCulture), long.Parse(fields[1], CultureInfo.InvariantCulture)));
                }
            }

            await using var fuse = await NbdFuseFile.MountAsync(dir["fuse-" + token.ToString(CultureInfo.InvariantCulture)], uri, disk.Size);
            using (var handle = DirectOpen.ReadOnly(fuse.Path))
            {
                pair.Send(token, handle);
            }

            var volume = new JsonObject
            {
                ["size"] = disk.Size,
                ["bitmap-mode"] = mode == "use" ? "reuse" : "new",
                ["file-handle"] = new JsonObject { ["fd-token"] = token },
            };
            var id = await provider.SendAsync("backup_vm", new JsonObject { ["vmid"] = "300", ["guest-config"] = "memory: 256\n", ["volumes"] = new JsonObject { [Device] = volume } });
            var calls = 0;
            while (true)
            {
                var message = await provider.ReadMessageAsync("backup_vm");
                if (message["call"] is not JsonObject call)
                {
                    Assert.Equal(id, (long)message["id"]!);
                    ResponseLines.Result("backup_vm", message);
                    break;
                }

                await onCall(call, ++calls);
                var reply = new JsonObject { ["id"] = (string)call["id"]! };
                if (regions.TryDequeue(out var region))
                {
                    reply["regions"] = new JsonArray(new JsonArray(region.Item1, region.Item2));
                    reply["end"] = false;
                }
                else
                {
                    reply["regions"] = new JsonArray();
                    reply["end"] = true;
                }

                await provider.WriteLineAsync(new JsonObject { ["reply"] = reply });
            }
        }

        await disk.CommitBitmapAsync();
        var cleanup = await provider.CallAsync("backup_cleanup", new JsonObject { ["vmid"] = "300", ["vmtype"] = "qemu", ["success"] = true });
        Assert.Equal(disk.Size, (long)cleanup!["stats"]!["archive-size"]!);
        await provider.CallAsync("job_cleanup");
        return (archive, mode);
    }
}
