using Engine.Provider.Tests.Infrastructure;

namespace Engine.Provider.Tests;

/// <summary><c>engine provider</c> as the long-lived process the Perl plugin talks to.</summary>
public sealed class JsonLinesProcessTests
{
    [Fact]
    public async Task FullBackupAndRestore_ThroughTheProcess()
    {
        using var dir = new TempDir();
        var disk = await VmDisk.CreateAsync(dir, "drive-efidisk0", 4L << 20, 5, (0, 1 << 20), (3L << 20, 64 << 10));
        await using var provider = ProcessChannel.Start(dir["repo"]);
        Assert.Equal("Engine", (string)(await provider.CallAsync("provider_name"))!);

        var outcome = await PveReplay.BackupVmAsync(provider, dir, "200", 1764170000, [disk], "efidisk0: local:200/vm-200-disk-0.qcow2\n", "[OPTIONS]\n");
        Assert.Equal("new", outcome.Modes["drive-efidisk0"]);
        Assert.Equal(4L << 20, outcome.ArchiveSize);
        var expected = new Dictionary<string, string> { ["drive-efidisk0"] = await disk.CaptureAsync("v1") };
        var (config, firewall) = await PveReplay.RestoreVmAsync(provider, dir, outcome.ArchiveName, expected);
        Assert.Equal("efidisk0: local:200/vm-200-disk-0.qcow2\n", config);
        Assert.Equal("[OPTIONS]\n", firewall);

        var error = await Assert.ThrowsAsync<ProviderCallException>(() => provider.CallAsync("restore_vm_init", new() { ["volname"] = "vm/200/not-a-time" }));
        Assert.Contains("vm/200/not-a-time", error.Message, StringComparison.Ordinal);
        Assert.Contains(provider.Logs, l => l.Level == "info" && l.Message.Contains("full backup", StringComparison.Ordinal));
        Assert.Equal(0, await provider.EndAsync());
    }
}
