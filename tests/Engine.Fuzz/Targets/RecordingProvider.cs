using Engine.Provider.Api;

namespace Engine.Fuzz.Targets;

/// <summary>
/// A provider that answers every callback at once with a fixed, valid answer: the provider-json target fuzzes how
/// the host reads requests, not what a repository does with them.
/// </summary>
internal sealed class RecordingProvider : IBackupProvider, IArchiveNaming
{
    private const string Archive = "vm/100/2026-11-26T06:30:00Z";
    private static readonly ArchiveIdentity Identity = new("100", GuestType.Qemu, new DateTimeOffset(2026, 11, 26, 6, 30, 0, TimeSpan.Zero));

    public int Calls { get; private set; }

    public string ProviderName => "fuzz";

    public IArchiveNaming ArchiveNaming => this;

    /// <summary>The one name this provider gives; any other is not its own.</summary>
    public ArchiveIdentity Parse(string archiveName) =>
        archiveName == Archive ? Identity : throw new FormatException($"'{archiveName}' is not the fuzz provider's archive {Archive}");

    public void JobInit(DateTimeOffset startTime) => Calls++;

    public void JobCleanup() => Calls++;

    public string BackupInit(string vmid, GuestType guestType, DateTimeOffset startTime)
    {
        Calls++;
        return Archive;
    }

    public Task<BackupCleanupResult> BackupCleanupAsync(string vmid, GuestType guestType, bool success, string? error, CancellationToken cancellationToken)
    {
        Calls++;
        return Task.FromResult(new BackupCleanupResult(success ? 4096 : null));
    }

    public string BackupGetMechanism(string vmid, GuestType guestType)
    {
        Calls++;
        return guestType == GuestType.Lxc ? BackupMechanisms.Directory : BackupMechanisms.Nbd;
    }

    public void BackupHandleLogFile(string vmid, string fileName) => Calls++;

    public IReadOnlyDictionary<string, string> BackupVmQueryIncremental(string vmid, IReadOnlyDictionary<string, long> deviceSizes)
    {
        Calls++;
        return deviceSizes.ToDictionary(d => d.Key, _ => "new", StringComparer.Ordinal);
    }

    public async Task BackupVmAsync(string vmid, string guestConfig, IReadOnlyDictionary<string, BackupVmVolume> volumes, BackupVmInfo info, CancellationToken cancellationToken)
    {
        Calls++;
        foreach (var volume in volumes.Values)
        {
            if (volume.NextDirtyRegion is { } regions)
            {
                await foreach (var _ in regions.WithCancellation(cancellationToken).ConfigureAwait(false))
                {
                }
            }
        }
    }

    public void BackupContainerPrepare(string vmid, BackupContainerInfo info) => Calls++;

    public Task BackupContainerAsync(string vmid, string guestConfig, IReadOnlyList<string> excludePatterns, BackupContainerInfo info, CancellationToken cancellationToken)
    {
        Calls++;
        return Task.CompletedTask;
    }

    public RestoreMechanism RestoreGetMechanism(string volumeName, string? storeId = null)
    {
        Calls++;
        return new RestoreMechanism("qemu-img", GuestType.Qemu);
    }

    public string ArchiveGetGuestConfig(string volumeName, string? storeId = null)
    {
        Calls++;
        return "cores: 1\n";
    }

    public string? ArchiveGetFirewallConfig(string volumeName, string? storeId = null)
    {
        Calls++;
        return null;
    }

    public Task<IReadOnlyDictionary<string, long>> RestoreVmInitAsync(string volumeName, CancellationToken cancellationToken)
    {
        Calls++;
        return Task.FromResult<IReadOnlyDictionary<string, long>>(new Dictionary<string, long>(StringComparer.Ordinal) { ["scsi0"] = 4096 });
    }

    public string RestoreVmVolumeInit(string volumeName, string deviceName)
    {
        Calls++;
        return "/dev/null";
    }

    public void RestoreVmVolumeCleanup(string volumeName, string deviceName) => Calls++;

    public Task RestoreVmCleanupAsync(string volumeName)
    {
        Calls++;
        return Task.CompletedTask;
    }

    public Task<RestoreContainerSource> RestoreContainerInitAsync(string volumeName, string? storeId, CancellationToken cancellationToken)
    {
        Calls++;
        return Task.FromResult(new RestoreContainerSource("/dev/null", null));
    }

    public void RestoreContainerCleanup(string volumeName, string? storeId = null) => Calls++;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
