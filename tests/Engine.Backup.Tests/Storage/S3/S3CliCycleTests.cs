using System.Text.Json;

namespace Engine.Backup.Tests.Storage.S3;

/// <summary>
/// The whole cycle as a user runs it against radosgw, each step an <c>engine</c> process taking its credentials and
/// endpoint from the AWS variables: init, backup (full and incremental), snapshots, restore byte-exact, verify (quick and
/// full), export over NBD to qemu-img, forget, gc.
/// </summary>
[Collection(CephGateway.Collection)]
public sealed class S3CliCycleTests(CephGateway gateway) : IDisposable
{
    private readonly TempDir _dir = new();

    [Fact]
    public async Task Init_backup_restore_verify_gc_on_s3()
    {
        Assert.NotEmpty(gateway.Endpoint);
        var repo = $"s3://{CephGateway.NewBucketName("cli")}/pve";
        var disk = _dir["disk.raw"];
        var bytes = Repository.TempRepository.Random(12 << 20, 51);
        Array.Clear(bytes, 4 << 20, 4 << 20);
        await File.WriteAllBytesAsync(disk, bytes);

        // No silent creation on S3: a backup before init names the command that makes one.
        (await EngineCli.RunAsync("backup", "--repo", repo, "--vmid", "600", "--disk", $"drive-scsi0={disk}"))
            .AssertFailure(1, "engine init creates it").AssertNoRuntimeText();

        (await EngineCli.RunAsync("init", "--repo", repo)).AssertSuccess();

        // Nor under another prefix of an existing bucket.
        var elsewhere = repo.Replace("/pve", "/other", StringComparison.Ordinal);
        (await EngineCli.RunAsync("backup", "--repo", elsewhere, "--vmid", "600", "--disk", $"drive-scsi0={disk}"))
            .AssertFailure(66, $"engine init --repo {elsewhere} creates one").AssertNoRuntimeText();
        (await EngineCli.RunAsync("snapshots", "--repo", elsewhere)).AssertFailure(66, "no such repository").AssertNoRuntimeText();
        var full = SnapshotOf((await EngineCli.RunAsync("backup", "--repo", repo, "--vmid", "600", "--disk", $"drive-scsi0={disk}", "--json")).AssertSuccess().Stdout);
        var first = _dir["first.raw"];
        File.Copy(disk, first);
        await using (var file = File.OpenWrite(disk))
        {
            file.Position = 100_000;
            await file.WriteAsync(Repository.TempRepository.Random(4096, 52));
        }

        await Task.Delay(1100);
        var second = SnapshotOf((await EngineCli.RunAsync("backup", "--repo", repo, "--vmid", "600", "--disk", $"drive-scsi0={disk}", "--json")).AssertSuccess().Stdout);

        var list = (await EngineCli.RunAsync("snapshots", "--repo", repo, "--json")).AssertSuccess().Stdout;
        Assert.Contains(full, list, StringComparison.Ordinal);
        Assert.Contains(second, list, StringComparison.Ordinal);

        foreach (var (id, expected) in new[] { (full, first), (second, disk) })
        {
            var target = _dir[$"restored-{expected.GetHashCode():x}.raw"];
            (await EngineCli.RunAsync("restore", "--repo", repo, "--snapshot", id, "--disk", "drive-scsi0", "--to", target)).AssertSuccess();
            (await Tool.RunAsync("qemu-img", "compare", "-f", "raw", "-F", "raw", expected, target)).AssertSuccess();
        }

        // PVE's restore path: qemu-img reads the snapshot over NBD from engine export, which reads the bucket.
        var socket = _dir["export.sock"];
        await using (var export = EngineCli.Start("export", "--repo", repo, "--snapshot", second, "--socket", socket))
        {
            await export.WaitUntilAsync(() => File.Exists(socket), EngineCli.Timeout, "the export's socket");
            (await Tool.RunAsync("qemu-img", "compare", "-f", "raw", "-F", "raw", disk, $"nbd+unix:///drive-scsi0?socket={socket}")).AssertSuccess();
        }

        (await EngineCli.RunAsync("verify", "--repo", repo, "--quick")).AssertSuccess();
        (await EngineCli.RunAsync("verify", "--repo", repo)).AssertSuccess();
        (await EngineCli.RunAsync("forget", "--repo", repo, full)).AssertSuccess();
        var gc = (await EngineCli.RunAsync("gc", "--repo", repo, "--json")).AssertSuccess().Stdout;
        using (var report = JsonDocument.Parse(gc))
        {
            Assert.Equal(1, report.RootElement.GetProperty("snapshots").GetInt32());
        }

        var again = _dir["again.raw"];
        (await EngineCli.RunAsync("restore", "--repo", repo, "--snapshot", second, "--disk", "drive-scsi0", "--to", again)).AssertSuccess();
        (await Tool.RunAsync("qemu-img", "compare", "-f", "raw", "-F", "raw", disk, again)).AssertSuccess();
        (await EngineCli.RunAsync("verify", "--repo", repo)).AssertSuccess();
    }

    private static string SnapshotOf(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.GetProperty("snapshot").GetString()!;
    }

    public void Dispose() => _dir.Dispose();
}
