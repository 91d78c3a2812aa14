using System.Text.Json.Nodes;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Snapshots;
using Engine.Provider.Tests.Infrastructure;

namespace Engine.Provider.Tests;

/// <summary>
/// What PVE's failure paths leave behind: a provider process killed inside <c>backup_vm</c>, and a previous snapshot
/// that was damaged after it was taken. The repository must stay consistent and the next backup must be exact.
/// </summary>
public sealed class FailurePathTests
{
    private const long MiB = 1L << 20;
    private const string Config = "scsi0: local:100/vm-100-disk-0.qcow2,size=32M\n";

    [Fact]
    public async Task ProviderKilledInsideBackupVm_LeavesTheRepositoryConsistent_AndTheNextBackupIsExact()
    {
        using var dir = new TempDir();
        var disk = await VmDisk.CreateAsync(dir, "drive-scsi0", 32 * MiB, 11, (0, (int)(6 * MiB)), (20 * MiB, (int)(4 * MiB)));
        await using (var first = new InProcessChannel(dir["repo"]))
        {
            await PveReplay.BackupVmAsync(first, dir, "110", 1764170000, [disk], Config);
        }

        await disk.WriteAsync("write -P 0x5a 1M 8M", "write -P 0x6b 24M 2M");
        await using (var doomed = ProcessChannel.Start(dir["repo"]))
        {
            await doomed.CallAsync("job_init", new JsonObject { ["start-time"] = 1764170100 });
            await doomed.CallAsync("backup_init", new JsonObject { ["vmid"] = "110", ["vmtype"] = "qemu", ["start-time"] = 1764170100 });
            var answer = await doomed.CallAsync("backup_vm_query_incremental", new JsonObject { ["vmid"] = "110", ["volumes"] = new JsonObject { ["drive-scsi0"] = new JsonObject { ["size"] = 32 * MiB } } });
            Assert.Equal("use", (string)answer!["drive-scsi0"]!);
            await using var export = await disk.ExportAsync();
            var volumes = new JsonObject { ["drive-scsi0"] = new JsonObject { ["nbd-path"] = export.Socket, ["bitmap-mode"] = "reuse", ["bitmap-name"] = VmDisk.Bitmap } };

            // 10 MiB dirty at 2 MiB/s (PVE's bandwidth-limit): killed about a fifth of the way in.
            await doomed.SendAsync("backup_vm", new JsonObject { ["vmid"] = "110", ["guest-config"] = Config, ["volumes"] = volumes, ["info"] = new JsonObject { ["bandwidth-limit"] = 2 * MiB } });
            await Task.Delay(TimeSpan.FromSeconds(1.5));
            await doomed.KillAsync();
        }

        using (var repository = BackupRepository.Open(dir["repo"], create: false))
        {
            Assert.Single(repository.ListSnapshots("vm", "110"));
            var report = await repository.VerifyAsync(null, null, CancellationToken.None);
            Assert.True(report.IsClean, $"verify after the kill: {report.BadChunks.Count} bad chunk(s), {report.BadSnapshots.Count} bad snapshot(s)");
        }

        // QEMU did not commit the bitmap (backup_vm never returned), so it still holds every change since the first backup.
        var expected = new Dictionary<string, string> { ["drive-scsi0"] = await disk.CaptureAsync("after") };
        await using var next = ProcessChannel.Start(dir["repo"]);
        var retry = await PveReplay.BackupVmAsync(next, dir, "110", 1764170200, [disk], Config);
        Assert.Equal("use", retry.Modes["drive-scsi0"]);
        await PveReplay.RestoreVmAsync(next, dir, retry.ArchiveName, expected);
        Assert.Equal(0, await next.EndAsync());
    }

    [Theory]
    [InlineData("missing chunk")]
    [InlineData("torn index")]
    public async Task DamagedPreviousSnapshot_QueryAnswersNew_AndTheFullBackupIsExact(string damage)
    {
        using var dir = new TempDir();
        var disk = await VmDisk.CreateAsync(dir, "drive-scsi0", 16 * MiB, 12, (0, (int)(5 * MiB)), (12 * MiB, (int)MiB));
        await using var provider = new InProcessChannel(dir["repo"]);
        var first = await PveReplay.BackupVmAsync(provider, dir, "111", 1764180000, [disk], Config);

        using (var repository = BackupRepository.Open(dir["repo"], create: false))
        {
            var id = SnapshotId.Parse(first.ArchiveName);
            var index = repository.ReadIndex(id, "drive-scsi0");
            if (damage == "missing chunk")
            {
                File.Delete(repository.LocalChunks.PathOf(index[1]));
            }
            else
            {
                var indexFile = Directory.GetFiles(Path.Combine(dir["repo"], "snapshots"), "drive-scsi0*", SearchOption.AllDirectories).Single();
                File.WriteAllBytes(indexFile, File.ReadAllBytes(indexFile).AsSpan(0, 20).ToArray());
            }
        }

        await disk.WriteAsync("write -P 0x77 2M 64k");
        var second = await PveReplay.BackupVmAsync(provider, dir, "111", 1764180100, [disk], Config);
        Assert.Equal("new", second.Modes["drive-scsi0"]);
        using (var repository = BackupRepository.Open(dir["repo"], create: false))
        {
            var manifest = repository.ReadManifest(SnapshotId.Parse(second.ArchiveName));
            Assert.Null(manifest.Parent);
            Assert.Equal(6 * MiB, manifest.Stats.BytesRead); // every allocated byte, read afresh
        }

        await PveReplay.RestoreVmAsync(provider, dir, second.ArchiveName, new Dictionary<string, string> { ["drive-scsi0"] = await disk.CaptureAsync("v2") });
    }
}
