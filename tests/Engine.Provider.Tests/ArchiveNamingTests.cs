using System.Globalization;
using System.Text.Json.Nodes;
using Engine.Provider.Api;
using Engine.Provider.Repository;
using Engine.Provider.Tests.Infrastructure;

namespace Engine.Provider.Tests;

/// <summary>
/// Archive names belong to the provider (<see cref="IArchiveNaming"/>). The host needs one only when PVE sends
/// <c>backup_container</c> to a process that never saw the guest's <c>backup_init</c> (its fork inside the
/// container): there it must understand a vendor's names as well as Engine's, and refuse a name the provider would
/// not give this backup.
/// </summary>
public sealed class ArchiveNamingTests
{
    private const long StartTime = 1764150000;

    [Fact]
    public async Task BackupContainerInAFreshProcess_AdoptsAVendorNamedArchive_ThroughTheVendorsNaming()
    {
        var vendor = new VendorNamedProvider();
        await using var channel = new InProcessChannel(_ => vendor);
        var archive = string.Create(CultureInfo.InvariantCulture, $"lxc-300.{StartTime}");

        Assert.Null(await channel.CallAsync("backup_container", ContainerCall("300", archive)));

        Assert.Equal([archive], vendor.ContainerBackups);
    }

    [Theory]
    [InlineData("lxc-301.1764150000")] // another guest's backup
    [InlineData("qemu-300.1764150000")] // a VM's backup
    [InlineData("ct/300/2025-11-26T09:40:00Z")] // Engine's name, not this vendor's
    public async Task BackupContainerInAFreshProcess_RefusesAnArchiveTheProviderWouldNotGiveIt_NamingTheArchive(string archive)
    {
        var vendor = new VendorNamedProvider();
        await using var channel = new InProcessChannel(_ => vendor);

        var error = await Assert.ThrowsAsync<ProviderCallException>(() => channel.CallAsync("backup_container", ContainerCall("300", archive)));

        Assert.Contains($"'{archive}'", error.Message, StringComparison.Ordinal);
        Assert.Empty(vendor.ContainerBackups);
    }

    [Theory]
    [InlineData("ct/300/2025-11-26T09:40:00Z", "300", GuestType.Lxc)]
    [InlineData("backup/vm/100/2025-11-26T09:40:00Z", "100", GuestType.Qemu)] // a storage plugin's volume name
    public void EnginesNaming_ReadsItsSnapshotNames_WithOrWithoutAStoragePrefix(string name, string vmid, GuestType type)
    {
        var identity = SnapshotArchiveNaming.Instance.Parse(name);

        Assert.Equal(new ArchiveIdentity(vmid, type, DateTimeOffset.FromUnixTimeSeconds(StartTime)), identity);
    }

    [Fact]
    public void EnginesNaming_RefusesAVendorsName_NamingIt()
    {
        var error = Assert.Throws<FormatException>(() => SnapshotArchiveNaming.Instance.Parse("lxc-300.1764150000"));

        Assert.Contains("'lxc-300.1764150000'", error.Message, StringComparison.Ordinal);
    }

    private static JsonObject ContainerCall(string vmid, string archive) => new()
    {
        ["vmid"] = vmid,
        ["archive-name"] = archive,
        ["guest-config"] = "arch: amd64\n",
        ["exclude-patterns"] = new JsonArray(),
        ["info"] = new JsonObject { ["directory"] = "/" },
    };
}
