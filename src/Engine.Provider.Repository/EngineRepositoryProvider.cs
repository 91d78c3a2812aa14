using System.Globalization;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Snapshots;
using Engine.Backup.Restore;
using Engine.Backup.VmBackup;
using Engine.Provider.Api;
using Engine.Sources;

namespace Engine.Provider.Repository;

/// <summary>
/// The reference backup provider: PVE's callbacks on an Engine repository. A guest's backup becomes the snapshot
/// named by its <c>archive-name</c> (<c>vm/VMID/TIME</c>, see <see cref="SnapshotArchiveNaming"/>); a VM restores
/// through <c>engine export</c>'s NBD server and nbdfuse files, which <c>qemu-img</c> reads as raw.
/// </summary>
public sealed partial class EngineRepositoryProvider : IBackupProvider
{
    /// <summary>The bitmap name a file-handle volume's lineage is recorded under.</summary>
    private const string FileHandleBitmapName = "file-handle";
    private readonly BackupRepository _repository;
    private readonly ProviderLogFunction _log;
    private readonly EngineRepositoryProviderOptions _options;
    private readonly Dictionary<string, GuestBackup> _backups = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SnapshotId> _lastArchives = new(StringComparer.Ordinal);
    private readonly Dictionary<SnapshotId, VmRestoreSession> _restores = [];

    /// <summary>Creates the provider over an open repository; it does not own the repository.</summary>
    public EngineRepositoryProvider(BackupRepository repository, ProviderLogFunction log, EngineRepositoryProviderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentNullException.ThrowIfNull(log);
        _repository = repository;
        _log = log;
        _options = options ?? new EngineRepositoryProviderOptions();
        if (_options.VmMechanism is not (BackupMechanisms.Nbd or BackupMechanisms.FileHandle))
        {
            throw new ArgumentException($"VM mechanism '{_options.VmMechanism}' is neither nbd nor file-handle", nameof(options));
        }

        if (_options.ContainerRestoreMechanism is not (BackupMechanisms.Tar or BackupMechanisms.Directory))
        {
            throw new ArgumentException($"container restore mechanism '{_options.ContainerRestoreMechanism}' is neither tar nor directory", nameof(options));
        }
    }

    /// <inheritdoc />
    public string ProviderName => "Engine";

    /// <inheritdoc />
    public IArchiveNaming ArchiveNaming => SnapshotArchiveNaming.Instance;

    /// <inheritdoc />
    public void JobInit(DateTimeOffset startTime)
    {
        // Opening the repository already proved it usable; say where the job goes.
        _log(ProviderLogLevel.Info, $"backup job to Engine repository {_repository.Directory}");
    }

    /// <inheritdoc />
    public void JobCleanup()
    {
        _backups.Clear();
    }

    /// <inheritdoc />
    public string BackupInit(string vmid, GuestType guestType, DateTimeOffset startTime)
    {
        var id = SnapshotArchiveNaming.ToSnapshotId(vmid, guestType, startTime);
        var type = id.Type;

        // Snapshots are named to the second: two backups of a guest in one second take the next free one, so the
        // archive name PVE records is the snapshot's real name.
        var taken = new HashSet<DateTimeOffset>();
        try
        {
            foreach (var manifest in _repository.ListSnapshots(type, vmid))
            {
                taken.Add(manifest.Id.Time);
            }
        }
        catch (UnauthorizedAccessException) when (type == "ct")
        {
            // A container's backup_container runs in a fork as the container's mapped root, to which the repository's
            // snapshots are private (0700). It adopts the name its parent chose, which no committed snapshot has yet.
        }

        while (taken.Contains(id.Time))
        {
            id = id with { Time = id.Time.AddSeconds(1) };
        }

        _backups[vmid] = new GuestBackup(id);
        return id.ToString();
    }

    /// <inheritdoc />
    public async Task<BackupCleanupResult> BackupCleanupAsync(string vmid, GuestType guestType, bool success, string? error, CancellationToken cancellationToken)
    {
        if (!_backups.Remove(vmid, out var backup))
        {
            throw new InvalidOperationException($"backup_cleanup for guest {vmid} without backup_init");
        }

        _lastArchives[vmid] = backup.Id;

        // A container's backup_container ran in a process of its own (inside the guest's namespaces): it either
        // staged the snapshot for this process to import, or committed it under this archive name directly.
        backup.Committed ??= await ImportStagedAsync(backup.Id, success, cancellationToken).ConfigureAwait(false) ?? FindCommitted(backup.Id);
        if (backup.Committed is null)
        {
            return new BackupCleanupResult(null);
        }

        if (!success)
        {
            _repository.DeleteSnapshot(backup.Committed.Id);
            _log(ProviderLogLevel.Warn, $"backup of guest {vmid} failed ({error ?? "no reason given"}): removed snapshot {backup.Committed.Id}");
            return new BackupCleanupResult(null);
        }

        var size = backup.Committed.Archive?.Bytes ?? 0;
        foreach (var device in backup.Committed.Devices)
        {
            size += device.Size;
        }

        return new BackupCleanupResult(size);
    }

    /// <inheritdoc />
    public string BackupGetMechanism(string vmid, GuestType guestType) =>
        guestType == GuestType.Lxc ? BackupMechanisms.Directory : _options.VmMechanism;

    /// <inheritdoc />
    public void BackupHandleLogFile(string vmid, string fileName)
    {
        var id = _backups.TryGetValue(vmid, out var pending) ? pending.Id
            : _lastArchives.TryGetValue(vmid, out var last) ? last
            : throw new InvalidOperationException($"backup_handle_log_file for guest {vmid} without a backup");

        // Kept beside the snapshots, not in them: a log exists for failed backups too.
        var target = Path.Combine(_repository.Directory, "logs", id.Type, id.Vmid, id.TimeText.Replace(':', '-') + ".log");
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        var temporary = target + ".tmp";
        File.Copy(fileName, temporary, overwrite: true);
        File.Move(temporary, target, overwrite: true);
    }

    /// <inheritdoc />
    public IReadOnlyDictionary<string, string> BackupVmQueryIncremental(string vmid, IReadOnlyDictionary<string, long> deviceSizes)
    {
        ArgumentNullException.ThrowIfNull(deviceSizes);
        var answer = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (device, size) in deviceSizes)
        {
            answer[device] = BitmapLineage.FindBase(_repository, vmid, device, size, bitmapName: null) is null
                ? BackupMechanisms.IncrementalNew
                : BackupMechanisms.IncrementalUse;
        }

        return answer;
    }

    /// <inheritdoc />
    public async Task BackupVmAsync(string vmid, string guestConfig, IReadOnlyDictionary<string, BackupVmVolume> volumes, BackupVmInfo info, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(volumes);
        ArgumentNullException.ThrowIfNull(info);
        var backup = PendingBackup(vmid, "backup_vm");

        var sources = new List<IVolumeSource>(volumes.Count);
        try
        {
            foreach (var (device, volume) in volumes)
            {
                sources.Add(await OpenSourceAsync(vmid, device, volume, cancellationToken).ConfigureAwait(false));
            }

            var options = new VmBackupOptions
            {
                BandwidthLimit = info.BandwidthLimit,
                DiscardSource = _options.DiscardSource,
                Logger = new ProviderLogger(_log),
            };
            var request = new VmBackupRequest
            {
                Vmid = vmid,
                Volumes = sources,
                GuestConfig = guestConfig,
                FirewallConfig = info.FirewallConfig,
                Time = backup.Id.Time,
            };
            backup.Committed = await new VmBackupEngine(_repository).BackupAsync(request, options, cancellationToken).ConfigureAwait(false);
            if (backup.Committed.Id != backup.Id)
            {
                _log(ProviderLogLevel.Warn, $"snapshot {backup.Id} was taken meanwhile; stored as {backup.Committed.Id}");
            }
        }
        finally
        {
            foreach (var source in sources)
            {
                await source.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <inheritdoc />
    public RestoreMechanism RestoreGetMechanism(string volumeName, string? storeId = null)
    {
        var manifest = _repository.ReadManifest(SnapshotArchiveNaming.ToSnapshotId(volumeName));
        return manifest.Id.Type == "ct"
            ? new RestoreMechanism(_options.ContainerRestoreMechanism, GuestType.Lxc)
            : new RestoreMechanism(BackupMechanisms.QemuImg, GuestType.Qemu);
    }

    /// <inheritdoc />
    public string ArchiveGetGuestConfig(string volumeName, string? storeId = null) =>
        _repository.ReadManifest(SnapshotArchiveNaming.ToSnapshotId(volumeName)).GuestConfig ?? "";

    /// <inheritdoc />
    public string? ArchiveGetFirewallConfig(string volumeName, string? storeId = null) =>
        _repository.ReadManifest(SnapshotArchiveNaming.ToSnapshotId(volumeName)).FirewallConfig;

    /// <inheritdoc />
    public async Task<IReadOnlyDictionary<string, long>> RestoreVmInitAsync(string volumeName, CancellationToken cancellationToken)
    {
        var id = SnapshotArchiveNaming.ToSnapshotId(volumeName);
        if (_restores.ContainsKey(id))
        {
            throw new InvalidOperationException($"restore of {id} is already initialised");
        }

        var manifest = _repository.ReadManifest(id);
        var runtime = CreateRuntimeDirectory("engine-restore-");
        try
        {
            var export = await SnapshotExport.StartAsync(_repository, id, Path.Combine(runtime, "nbd.sock"), Path.Combine(runtime, "fuse"), cancellationToken: cancellationToken).ConfigureAwait(false);
            _restores[id] = new VmRestoreSession(export, runtime);
        }
        catch
        {
            Directory.Delete(runtime, recursive: true);
            throw;
        }

        var sizes = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var device in manifest.Devices)
        {
            sizes[device.Name] = device.Size;
        }

        _log(ProviderLogLevel.Info, string.Create(CultureInfo.InvariantCulture, $"restoring {id}: {sizes.Count} disk(s)"));
        return sizes;
    }

    /// <inheritdoc />
    public string RestoreVmVolumeInit(string volumeName, string deviceName)
    {
        var session = Session(volumeName);
        return session.Export.Files.TryGetValue(deviceName, out var path)
            ? path
            : throw new KeyNotFoundException($"{volumeName} has no device '{deviceName}'");
    }

    /// <inheritdoc />
    public void RestoreVmVolumeCleanup(string volumeName, string deviceName)
    {
        // The FUSE files live until restore_vm_cleanup: PVE may still retry or inspect other devices.
        Session(volumeName);
    }

    /// <inheritdoc />
    public async Task RestoreVmCleanupAsync(string volumeName)
    {
        if (_restores.Remove(SnapshotArchiveNaming.ToSnapshotId(volumeName), out var session))
        {
            await session.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var session in _restores.Values)
        {
            await session.DisposeAsync().ConfigureAwait(false);
        }

        _restores.Clear();
        foreach (var runtime in _containerRestores.Values)
        {
            DeleteRuntimeDirectory(runtime);
        }

        _containerRestores.Clear();
    }

    /// <summary>A fresh private directory for one restore, under <see cref="EngineRepositoryProviderOptions.RuntimeDirectory"/>.</summary>
    private string CreateRuntimeDirectory(string prefix)
    {
        if (_options.RuntimeDirectory is null)
        {
            return Directory.CreateTempSubdirectory(prefix).FullName;
        }

        var path = Path.Combine(_options.RuntimeDirectory, prefix + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(path);
        return path;
    }

    private SnapshotManifest? FindCommitted(SnapshotId id)
    {
        foreach (var manifest in _repository.ListSnapshots(id.Type, id.Vmid))
        {
            if (manifest.Id == id)
            {
                return manifest;
            }
        }

        return null;
    }

    private VmRestoreSession Session(string volumeName) =>
        _restores.TryGetValue(SnapshotArchiveNaming.ToSnapshotId(volumeName), out var session)
            ? session
            : throw new InvalidOperationException($"{volumeName}: restore_vm_init was not called");

    private async Task<IVolumeSource> OpenSourceAsync(string vmid, string device, BackupVmVolume volume, CancellationToken cancellationToken)
    {
        if (!BackupRepository.IsValidDeviceName(device))
        {
            throw new ArgumentException($"invalid device name '{device}'", nameof(device));
        }

        // PVE names no bitmap for the file-handle mechanism (only its bitmap-mode): its lineage goes by one fixed name.
        var bitmap = volume.BitmapMode == BitmapMode.None ? null : volume.BitmapName
            ?? (volume.FileHandle is not null ? FileHandleBitmapName : throw new ArgumentException($"{device}: bitmap-mode {volume.BitmapMode} without bitmap-name", nameof(volume)));
        IVolumeSource source;
        if (volume.NbdPath is not null)
        {
            if (!File.Exists(volume.NbdPath))
            {
                // Fail now rather than after the client's connect timeout: PVE's socket exists before backup_vm.
                throw new FileNotFoundException($"{device}: nbd-path {volume.NbdPath} does not exist", volume.NbdPath);
            }

            var uri = $"nbd+unix:///{Uri.EscapeDataString(device)}?socket={volume.NbdPath}";
            source = await NbdVolumeSource.ConnectAsync(device, uri, bitmap, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        else if (volume.FileHandle is not null)
        {
            source = new FileVolumeSource(device, volume.FileHandle, $"{device} (file handle)", bitmap, bitmap is null ? null : volume.NextDirtyRegion
                ?? throw new ArgumentException($"{device}: a bitmap without next-dirty-region", nameof(volume)));
        }
        else
        {
            throw new ArgumentException($"{device}: neither nbd-path nor file-handle", nameof(volume));
        }

        if (bitmap is null)
        {
            return source;
        }

        // Without a bitmap name (file-handle) the base is the newest snapshot made with any bitmap, as
        // backup_vm_query_incremental answered 'use' for.
        var baseEntry = volume.BitmapMode == BitmapMode.Reuse ? BitmapLineage.FindBase(_repository, vmid, device, source.Size, volume.BitmapName) : null;
        if (volume.BitmapMode == BitmapMode.Reuse && baseEntry is null)
        {
            _log(ProviderLogLevel.Warn, $"{device}: bitmap {bitmap} is reused but no usable previous snapshot matches it; backing up in full");
        }

        return new RelabeledVolumeSource(source, baseEntry?.Bitmap ?? BitmapLineage.NewLabel(bitmap));
    }

    /// <summary>One guest between <c>backup_init</c> and <c>backup_cleanup</c>.</summary>
    private sealed class GuestBackup(SnapshotId id)
    {
        public SnapshotId Id { get; } = id;

        public SnapshotManifest? Committed { get; set; }
    }

    /// <summary>One VM restore between <c>restore_vm_init</c> and <c>restore_vm_cleanup</c>.</summary>
    private sealed class VmRestoreSession(SnapshotExport export, string runtimeDirectory) : IAsyncDisposable
    {
        public SnapshotExport Export { get; } = export;

        public async ValueTask DisposeAsync()
        {
            await Export.DisposeAsync().ConfigureAwait(false);
            Directory.Delete(runtimeDirectory, recursive: true);
        }
    }
}
