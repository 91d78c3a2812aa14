namespace Engine.Provider.Api;

/// <summary>
/// PVE's backup provider API (<c>PVE::BackupProvider::Plugin::Base</c>), one method per callback, in the order
/// qemu-server and pve-container call them. Backup: <see cref="JobInit"/>, then per guest <see cref="BackupInit"/>,
/// <see cref="BackupGetMechanism"/>, <see cref="BackupVmQueryIncremental"/> and <see cref="BackupVmAsync"/> (VMs) or
/// the container pair, <see cref="BackupCleanupAsync"/>, then <see cref="BackupHandleLogFile"/> and <see cref="JobCleanup"/>.
/// Restore: <see cref="RestoreGetMechanism"/>, the configuration getters, then the init/cleanup pairs. Calls come
/// one at a time; a callback fails by throwing, as a Perl callback dies. One member is no callback:
/// <see cref="ArchiveNaming"/>, how the host reads back the archive names this provider gives.
/// </summary>
public interface IBackupProvider : IAsyncDisposable
{
    /// <summary><c>provider_name</c>: the name PVE shows for this provider.</summary>
    string ProviderName { get; }

    /// <summary>
    /// How the archive names <see cref="BackupInit"/> returns map back to guest and start time; the names are the
    /// provider's own, and the host takes none apart without asking this.
    /// </summary>
    IArchiveNaming ArchiveNaming { get; }

    /// <summary><c>job_init($start_time)</c>: a backup job starts; check the target is usable.</summary>
    void JobInit(DateTimeOffset startTime);

    /// <summary><c>job_cleanup()</c>: the job is over, whatever happened to its guests.</summary>
    void JobCleanup();

    /// <summary><c>backup_init($vmid, $vmtype, $start_time)</c>: returns the <c>archive-name</c> of the guest's backup.</summary>
    /// <returns>A name of <c>[A-Za-z0-9_.+/:-]</c> characters.</returns>
    string BackupInit(string vmid, GuestType guestType, DateTimeOffset startTime);

    /// <summary>
    /// <c>backup_cleanup($vmid, $vmtype, $success, $info)</c>: the guest's backup is over. When
    /// <paramref name="success"/> is false whatever was written for it is discarded.
    /// </summary>
    Task<BackupCleanupResult> BackupCleanupAsync(string vmid, GuestType guestType, bool success, string? error, CancellationToken cancellationToken);

    /// <summary><c>backup_get_mechanism($vmid, $vmtype)</c>: <c>nbd</c> or <c>file-handle</c> for VMs, <c>directory</c> for containers.</summary>
    string BackupGetMechanism(string vmid, GuestType guestType);

    /// <summary><c>backup_handle_log_file($vmid, $filename)</c>: keeps the task log of the guest's backup (on success and failure).</summary>
    void BackupHandleLogFile(string vmid, string fileName);

    /// <summary>
    /// <c>backup_vm_query_incremental($vmid, $volumes)</c>: for each device and its current size, whether to back up
    /// incrementally (<c>use</c>), start a new bitmap (<c>new</c>) or use none (<c>none</c>).
    /// </summary>
    IReadOnlyDictionary<string, string> BackupVmQueryIncremental(string vmid, IReadOnlyDictionary<string, long> deviceSizes);

    /// <summary>
    /// <c>backup_vm($vmid, $guest_config, $volumes, $info)</c>: backs up the disks. Completes only when the backup is
    /// durable: QEMU commits the dirty bitmap as soon as this returns.
    /// </summary>
    Task BackupVmAsync(string vmid, string guestConfig, IReadOnlyDictionary<string, BackupVmVolume> volumes, BackupVmInfo info, CancellationToken cancellationToken);

    /// <summary><c>backup_container_prepare($vmid, $info)</c>, run as root before <see cref="BackupContainerAsync"/>.</summary>
    void BackupContainerPrepare(string vmid, BackupContainerInfo info);

    /// <summary><c>backup_container($vmid, $config, $exclude_patterns, $info)</c>, run as the container's mapped root.</summary>
    Task BackupContainerAsync(string vmid, string guestConfig, IReadOnlyList<string> excludePatterns, BackupContainerInfo info, CancellationToken cancellationToken);

    /// <summary><c>restore_get_mechanism($volname[, $storeid])</c>: how the archive is restored and what kind of guest it holds.</summary>
    RestoreMechanism RestoreGetMechanism(string volumeName, string? storeId = null);

    /// <summary><c>archive_get_guest_config($volname[, $storeid])</c>: the guest configuration as backed up.</summary>
    string ArchiveGetGuestConfig(string volumeName, string? storeId = null);

    /// <summary><c>archive_get_firewall_config($volname[, $storeid])</c>: the firewall configuration, or null when there was none.</summary>
    string? ArchiveGetFirewallConfig(string volumeName, string? storeId = null);

    /// <summary><c>restore_vm_init($volname)</c>: prepares a VM restore; returns each device's size in bytes.</summary>
    Task<IReadOnlyDictionary<string, long>> RestoreVmInitAsync(string volumeName, CancellationToken cancellationToken);

    /// <summary>
    /// <c>restore_vm_volume_init($volname, $device_name, $info)</c>: a path <c>qemu-img</c> reads as raw
    /// (<c>qemu-img-path</c>); here a local regular file with no backing file.
    /// </summary>
    string RestoreVmVolumeInit(string volumeName, string deviceName);

    /// <summary><c>restore_vm_volume_cleanup($volname, $device_name, $info)</c>: the device is restored (or failed); always called.</summary>
    void RestoreVmVolumeCleanup(string volumeName, string deviceName);

    /// <summary><c>restore_vm_cleanup($volname)</c>: the VM restore is over; always called.</summary>
    Task RestoreVmCleanupAsync(string volumeName);

    /// <summary><c>restore_container_init($volname[, $storeid], $info)</c>: a tar file or directory to restore from.</summary>
    Task<RestoreContainerSource> RestoreContainerInitAsync(string volumeName, string? storeId, CancellationToken cancellationToken);

    /// <summary><c>restore_container_cleanup($volname[, $storeid], $info)</c>: the container restore is over.</summary>
    void RestoreContainerCleanup(string volumeName, string? storeId = null);
}
