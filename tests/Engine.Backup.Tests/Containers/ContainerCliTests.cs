using System.Text.Json;

namespace Engine.Backup.Tests.Containers;

/// <summary><c>engine backup-ct</c> and <c>engine restore-ct</c> as processes.</summary>
public sealed class ContainerCliTests : IDisposable
{
    private readonly TempDir _dir = new();

    [Fact]
    public async Task Backup_and_restore_through_the_cli()
    {
        var root = _dir["root"];
        await ContainerTree.BuildAsync(root);
        var repo = _dir["repo"];
        var backup = (await EngineCli.RunAsync("backup-ct", "--repo", repo, "--vmid", "300", "--dir", root, "--exclude", "*.log", "--json")).AssertSuccess();
        using var document = JsonDocument.Parse(backup.Stdout);
        var snapshot = document.RootElement.GetProperty("snapshot").GetString()!;
        Assert.StartsWith("ct/300/", snapshot, StringComparison.Ordinal);
        Assert.True(document.RootElement.GetProperty("files").GetInt64() > 15);
        Assert.True(document.RootElement.GetProperty("bytes_stored").GetInt64() > 0);

        var target = _dir["restored"];
        var restore = (await EngineCli.RunAsync("restore-ct", "--repo", repo, "--snapshot", snapshot, "--to", target)).AssertSuccess();
        Assert.Contains("restored " + snapshot, restore.Stdout, StringComparison.Ordinal);
        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(root, ContainerTree.BigFile)), await File.ReadAllBytesAsync(Path.Combine(target, ContainerTree.BigFile)));
        Assert.False(File.Exists(Path.Combine(target, "var/log/syslog.log")));
        var capability = (await Tool.RunAsync("getfattr", "-h", "-d", "-m", "-", "--absolute-names", Path.Combine(root, "bin/ping"))).AssertSuccess().Stdout;
        Assert.Contains("security.capability=", capability, StringComparison.Ordinal);
        Assert.Equal(
            (await Tool.RunAsync("getfattr", "-h", "-d", "-m", "-", "--absolute-names", Path.Combine(root, "bin/ping"))).Stdout.Replace(root, "", StringComparison.Ordinal),
            (await Tool.RunAsync("getfattr", "-h", "-d", "-m", "-", "--absolute-names", Path.Combine(target, "bin/ping"))).Stdout.Replace(target, "", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Usage_and_missing_input_have_their_exit_codes()
    {
        var repo = _dir["repo"];
        (await EngineCli.RunAsync("backup-ct", "--repo", repo, "--vmid", "abc", "--dir", "/")).AssertFailure(64, "--vmid");
        (await EngineCli.RunAsync("backup-ct", "--repo", repo, "--vmid", "1", "--dir", _dir["missing"])).AssertFailure(66, "no such directory");
        Directory.CreateDirectory(_dir["empty"]);
        (await EngineCli.RunAsync("backup-ct", "--repo", repo, "--vmid", "1", "--dir", _dir["empty"], "--source", "./mp/none")).AssertFailure(66, "./mp/none");
        (await EngineCli.RunAsync("restore-ct", "--repo", repo, "--snapshot", "ct/1/2026-01-01T00:00:00Z", "--to", _dir["t"])).AssertFailure(66, "ct/1/2026-01-01T00:00:00Z");
        (await EngineCli.RunAsync("restore-ct", "--repo", repo, "--snapshot", "nonsense", "--to", _dir["t"])).AssertFailure(64, "not a snapshot id");
    }

    public void Dispose() => _dir.Dispose();
}
