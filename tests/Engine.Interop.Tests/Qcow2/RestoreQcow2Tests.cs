using System.Text.Json;
using static Engine.Interop.Tests.Infrastructure.DiskFiles;

namespace Engine.Interop.Tests.Qcow2;

/// <summary><c>engine restore … --format qcow2</c>: the disk comes back as a clean qcow2 image, its zeroes unallocated.</summary>
public sealed class RestoreQcow2Tests
{
    [Fact]
    public async Task Restore_format_qcow2_writes_a_clean_sparse_image_of_the_disk()
    {
        using var dir = new TempDir();
        var disk = CreateSparse(dir["disk.raw"], 40 * MiB, 31, (0, 3 * MiB), (17 * MiB + 4096, 100_000), (39 * MiB, MiB));
        var backup = (await EngineCli.RunAsync("backup", "--repo", dir["repo"], "--vmid", "7", "--disk", "drive-scsi0=" + disk, "--json")).AssertSuccess();
        string snapshot;
        using (var json = JsonDocument.Parse(backup.Stdout))
        {
            snapshot = json.RootElement.GetProperty("snapshot").GetString()!;
        }

        var target = dir["vm-7-disk-0.qcow2"];
        (await EngineCli.RunAsync("restore", "--repo", dir["repo"], "--snapshot", snapshot, "--disk", "drive-scsi0", "--to", target, "--format", "qcow2"))
            .AssertSuccess();
        await Qcow2Checks.AssertCleanAsync(target);
        await Qcow2Checks.AssertSameAsync(target, "qcow2", disk, "raw");
        Assert.True(new FileInfo(target).Length < 6 * MiB, $"the restored image takes {new FileInfo(target).Length} bytes for 4.1 MiB of data");

        // An existing file is kept without --force, replaced with it.
        (await EngineCli.RunAsync("restore", "--repo", dir["repo"], "--snapshot", snapshot, "--disk", "drive-scsi0", "--to", target, "--format", "qcow2"))
            .AssertExitCode(1);
        (await EngineCli.RunAsync("restore", "--repo", dir["repo"], "--snapshot", snapshot, "--disk", "drive-scsi0", "--to", target, "--format", "qcow2", "--force"))
            .AssertSuccess();
        await Qcow2Checks.AssertCleanAsync(target);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.partial"));
    }
}
