using System.Text.Json;
using Engine.Interop.Tests.Infrastructure;
using static Engine.Interop.Tests.Backup.BackupTestKit;
using static Engine.Interop.Tests.Client.ClientInterop;
using static Engine.Interop.Tests.Infrastructure.DiskFiles;

namespace Engine.Interop.Tests.Backup;

/// <summary>
/// The CLI contract scripts depend on: `engine backup --json`, `engine restore`, and `engine export --fuse` used
/// exactly as PVE's qemu-img restore mechanism uses a path; exit codes for bad input.
/// </summary>
public sealed class BackupCliTests
{
    [Fact]
    public async Task BackupJson_RestoreAndFuseExport_AsPveUsesThem()
    {
        Assert.True(File.Exists("/dev/fuse"), "/dev/fuse is missing: nbdfuse needs the fuse kernel module (and the Debian package fuse3)");
        using var dir = new TempDir();
        var image = await CreateQcow2WithBitmapAsync(dir, "disk.qcow2", 32 * MiB, 601, (0, 5 * MiB), (20 * MiB, 1 * MiB));
        var expected = await SnapshotRawAsync(image, dir["expected.raw"]);
        await File.WriteAllTextAsync(dir["100.conf"], "memory: 2048\nscsi0: local:vm-100-disk-0,size=32M\n");
        await File.WriteAllTextAsync(dir["100.fw"], "[OPTIONS]\nenable: 1\n");
        string snapshot;
        await using (var server = await ExportAsync(dir, image))
        {
            var result = (await EngineAsync("backup", "--repo", dir["repo"], "--vmid", "100", "--disk", $"drive-scsi0={server.Uri("drive-scsi0")}#bitmap={Bitmap}",
                "--config", dir["100.conf"], "--firewall", dir["100.fw"], "--bwlimit", "1G", "--json")).AssertSuccess();
            using var json = JsonDocument.Parse(result.Stdout);
            var root = json.RootElement;
            snapshot = root.GetProperty("snapshot").GetString()!;
            Assert.StartsWith("vm/100/", snapshot, StringComparison.Ordinal);
            Assert.Equal(6L * MiB, root.GetProperty("bytes_read").GetInt64());
            Assert.Equal(JsonValueKind.Null, root.GetProperty("parent").ValueKind);
            foreach (var key in new[] { "bytes_reused", "bytes_stored", "bytes_new", "chunks_new", "chunks_reused", "zero_chunks", "seconds" })
            {
                Assert.True(root.TryGetProperty(key, out _), $"--json lacks {key}:\n{result.Stdout}");
            }

            Assert.Equal("drive-scsi0", root.GetProperty("devices")[0].GetProperty("name").GetString());
        }

        var restored = dir["restored.raw"];
        (await EngineAsync("restore", "--repo", dir["repo"], "--snapshot", snapshot, "--disk", "drive-scsi0", "--to", restored)).AssertSuccess();
        (await Tool.RunAsync("qemu-img", "compare", "-f", "raw", "-F", "raw", expected, restored)).AssertSuccess();
        Assert.True(await AllocatedBytesAsync(restored) <= 7L * MiB, "zero regions of the restore stay sparse");

        // PVE: stat the path, `qemu-img info -f raw` (no backing file), then `qemu-img convert -p -n -f raw PATH -O FMT TARGET`.
        var fuse = dir["fuse"];
        await using (var export = Tool.Start("/usr/bin/dotnet", [EngineDll, "export", "--repo", dir["repo"], "--snapshot", snapshot, "--socket", dir["export.sock"], "--fuse", fuse]))
        {
            try
            {
                await export.WaitUntilAsync(() => export.Stdout.Contains("disk.raw", StringComparison.Ordinal), TimeSpan.FromSeconds(60), "the FUSE path on stdout");
                var fields = export.Stdout.Trim().Split('\t');
                Assert.Equal(["drive-scsi0", $"nbd+unix:///drive-scsi0?socket={dir["export.sock"]}", Path.Combine(fuse, "drive-scsi0", "disk.raw")], fields);
                var path = fields[2];
                Assert.True(File.Exists(path) && new FileInfo(path).Length == 32 * MiB, $"{path} is not a 32 MiB regular file");
                var info = (await Tool.RunAsync("qemu-img", "info", "-f", "raw", "--output=json", path)).AssertSuccess();
                Assert.DoesNotContain("backing-filename", info.Stdout, StringComparison.Ordinal);
                var target = dir["target.qcow2"];
                (await Tool.RunAsync("qemu-img", "create", "-f", "qcow2", target, "32M")).AssertSuccess();
                (await Tool.RunAsync("qemu-img", "convert", "-p", "-n", "-f", "raw", path, "-O", "qcow2", target)).AssertSuccess();
                (await Tool.RunAsync("qemu-img", "compare", "-f", "raw", "-F", "qcow2", expected, target)).AssertSuccess();
            }
            finally
            {
                if (!export.HasExited)
                {
                    Signals.Send(export.Pid, Signals.Terminate);
                }
            }

            Assert.Equal(0, await export.WaitForExitAsync(TimeSpan.FromSeconds(30)));
            Assert.DoesNotContain(fuse, await File.ReadAllTextAsync("/proc/mounts"), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task BadInput_MeaningfulExitCodes_NothingCreated()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        var file = CreateRandom(dir["disk.raw"], 1 * MiB, 602);

        var missing = (await EngineAsync("backup", "--repo", repo, "--vmid", "1", "--disk", "drive-scsi0=" + dir["nope.raw"])).AssertExitCode(66);
        Assert.Contains("nope.raw", missing.Stderr, StringComparison.Ordinal);
        (await EngineAsync("backup", "--repo", repo, "--vmid", "1", "--disk", "drive-scsi0")).AssertExitCode(64);
        (await EngineAsync("backup", "--repo", repo, "--vmid", "one", "--disk", "drive-scsi0=" + file)).AssertExitCode(64);
        (await EngineAsync("backup", "--repo", repo, "--vmid", "1", "--disk", $"drive-scsi0={file}#bitmap=b0")).AssertExitCode(64);
        (await EngineAsync("backup", "--repo", repo, "--vmid", "1", "--disk", $"drive-scsi0={file}#dirty-map={dir["no.map"]}")).AssertExitCode(66);
        Assert.False(Directory.Exists(Path.Combine(repo, "snapshots", "vm")) && Directory.EnumerateFileSystemEntries(Path.Combine(repo, "snapshots", "vm")).Any(), "a failed backup left a snapshot");

        (await EngineAsync("backup", "--repo", repo, "--vmid", "1", "--disk", "drive-scsi0=" + file)).AssertSuccess();
        (await EngineAsync("restore", "--repo", repo, "--snapshot", "vm/1/2000-01-01T00:00:00Z", "--disk", "drive-scsi0", "--to", dir["r.raw"])).AssertExitCode(66);
        (await EngineAsync("restore", "--repo", repo, "--snapshot", "not-an-id", "--disk", "drive-scsi0", "--to", dir["r.raw"])).AssertExitCode(64);
        (await EngineAsync("restore", "--repo", dir["no-repo"], "--snapshot", "vm/1/2000-01-01T00:00:00Z", "--disk", "drive-scsi0", "--to", dir["r.raw"])).AssertExitCode(66);
        Assert.False(File.Exists(dir["r.raw"]), "a failed restore left a file");
    }
}
