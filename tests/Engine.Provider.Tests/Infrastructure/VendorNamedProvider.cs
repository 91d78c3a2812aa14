using System.Globalization;
using Engine.Provider.Api;

namespace Engine.Provider.Tests.Infrastructure;

/// <summary>
/// A third party's provider with names of its own, <c>TYPE-VMID.UNIXTIME</c> (<c>lxc-300.1764150000</c>), nothing
/// like Engine's <c>TYPE/VMID/TIME</c>: it shows the protocol host leaves naming to the provider. It keeps only the
/// backup bookkeeping the container callbacks need; the rest is not part of what it demonstrates.
/// </summary>
internal sealed class VendorNamedProvider : IBackupProvider, IArchiveNaming
{
    private readonly Dictionary<string, string> _backups = new(StringComparer.Ordinal);

    /// <summary>The archives <see cref="BackupContainerAsync"/> wrote, in order.</summary>
    public List<string> ContainerBackups { get; } = [];

    public string ProviderName => "Vendor";

    public IArchiveNaming ArchiveNaming => this;

    public ArchiveIdentity Parse(string archiveName)
    {
        ArgumentNullException.ThrowIfNull(archiveName);
        var dash = archiveName.IndexOf('-', StringComparison.Ordinal);
        var dot = archiveName.LastIndexOf('.');
        if (dash < 0 || dot < dash
            || archiveName[..dash] is not ("qemu" or "lxc")
            || !long.TryParse(archiveName[(dot + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            throw new FormatException($"'{archiveName}' is not a Vendor archive (TYPE-VMID.UNIXTIME)");
        }

        return new ArchiveIdentity(archiveName[(dash + 1)..dot], GuestTypes.Parse(archiveName[..dash]), DateTimeOffset.FromUnixTimeSeconds(seconds));
    }

    public string BackupInit(string vmid, GuestType guestType, DateTimeOffset startTime)
    {
        var name = string.Create(CultureInfo.InvariantCulture, $"{guestType.ToPveString()}-{vmid}.{startTime.ToUnixTimeSeconds()}");
        _backups[vmid] = name;
        return name;
    }

    public Task BackupContainerAsync(string vmid, string guestConfig, IReadOnlyList<string> excludePatterns, BackupContainerInfo info, CancellationToken cancellationToken)
    {
        ContainerBackups.Add(_backups.TryGetValue(vmid, out var name) ? name : throw new InvalidOperationException($"backup_container for guest {vmid} without backup_init"));
        return Task.CompletedTask;
    }

    public Task<BackupCleanupResult> BackupCleanupAsync(string vmid, GuestType guestType, bool success, string? error, CancellationToken cancellationToken) =>
        _backups.Remove(vmid) ? Task.FromResult(new BackupCleanupResult(0)) : throw new InvalidOperationException($"backup_cleanup for guest {vmid} without backup_init");

    public void BackupContainerPrepare(string vmid, BackupContainerInfo info)
    {
    }

    public string BackupGetMechanism(string vmid, GuestType guestType) => BackupMechanisms.Directory;

    public void JobInit(DateTimeOffset startTime)
    {
    }

    public void JobCleanup()
    {
    }

    public void BackupHandleLogFile(string vmid, string fileName) => throw NotDemonstrated();

    public IReadOnlyDictionary<string, string> BackupVmQueryIncremental(string vmid, IReadOnlyDictionary<string, long> deviceSizes) => throw NotDemonstrated();

    public Task BackupVmAsync(string vmid, string guestConfig, IReadOnlyDictionary<string, BackupVmVolume> volumes, BackupVmInfo info, CancellationToken cancellationToken) => throw NotDemonstrated();

    public RestoreMechanism RestoreGetMechanism(string volumeName, string? storeId = null) => throw NotDemonstrated();

    public string ArchiveGetGuestConfig(string volumeName, string? storeId = null) => throw NotDemonstrated();

    public string? ArchiveGetFirewallConfig(string volumeName, string? storeId = null) => throw NotDemonstrated();

    public Task<IReadOnlyDictionary<string, long>> RestoreVmInitAsync(string volumeName, CancellationToken cancellationToken) => throw NotDemonstrated();

    public string RestoreVmVolumeInit(string volumeName, string deviceName) => throw NotDemonstrated();

    public void RestoreVmVolumeCleanup(string volumeName, string deviceName) => throw NotDemonstrated();

    public Task RestoreVmCleanupAsync(string volumeName) => throw NotDemonstrated();

    public Task<RestoreContainerSource> RestoreContainerInitAsync(string volumeName, string? storeId, CancellationToken cancellationToken) => throw NotDemonstrated();

    public void RestoreContainerCleanup(string volumeName, string? storeId = null) => throw NotDemonstrated();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static NotSupportedException NotDemonstrated() => new("the Vendor test provider backs up containers only");
}
