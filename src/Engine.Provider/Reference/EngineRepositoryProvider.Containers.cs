using System.Globalization;
using Engine.Backup.Containers.Archive;
using Engine.Backup.Containers.Restore;
using Engine.Backup.Containers.Tar;
using Engine.Backup.Repository;
using Engine.Provider.Api;

namespace Engine.Provider.Reference;

/// <summary>
/// Containers: <c>directory</c> backups become a file-level archive (content-defined chunks, so unchanged files dedup
/// across backups) in the guest's <c>ct/VMID/TIME</c> snapshot; restores hand PVE a pax tar file or a directory tree.
/// </summary>
public sealed partial class EngineRepositoryProvider
{
    // vzdump leaves lost+found out of every container archive, whatever the job's own exclusions.
    private const string AlwaysExcluded = "lost+found";

    private readonly Dictionary<SnapshotId, string> _containerRestores = [];

    /// <inheritdoc />
    public void BackupContainerPrepare(string vmid, BackupContainerInfo info)
    {
        ArgumentNullException.ThrowIfNull(info);
        var backup = PendingBackup(vmid, "backup_container_prepare");
        if (backup.Id.Type != "ct")
        {
            throw new InvalidOperationException($"backup_container_prepare for guest {vmid}, whose backup_init said it is a VM");
        }
    }

    /// <inheritdoc />
    public async Task BackupContainerAsync(string vmid, string guestConfig, IReadOnlyList<string> excludePatterns, BackupContainerInfo info, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(excludePatterns);
        ArgumentNullException.ThrowIfNull(info);
        var backup = PendingBackup(vmid, "backup_container");
        var directory = info.Directory ?? throw new ArgumentException("backup_container: $info has no 'directory'", nameof(info));
        var exclude = new List<string>(excludePatterns.Count + 1) { AlwaysExcluded };
        exclude.AddRange(excludePatterns);
        var request = new ContainerBackupRequest
        {
            Vmid = vmid,
            Directory = directory,
            Sources = info.Sources.Count == 0 ? ["."] : info.Sources,
            ExcludePatterns = exclude,
            GuestConfig = guestConfig,
            FirewallConfig = info.FirewallConfig,
            BandwidthLimit = info.BandwidthLimit,
            Time = backup.Id.Time,
        };
        backup.Committed = await ContainerBackupEngine.BackupAsync(_repository, request, progress: null, cancellationToken).ConfigureAwait(false);
        var stats = backup.Committed.Stats;
        _log(ProviderLogLevel.Info, string.Create(CultureInfo.InvariantCulture,
            $"{backup.Committed.Id}: {backup.Committed.Archive?.Files ?? 0} files, {stats.BytesRead} bytes read, {stats.BytesStored} stored, {stats.BytesReused} reused"));
        if (backup.Committed.Id != backup.Id)
        {
            _log(ProviderLogLevel.Warn, $"snapshot {backup.Id} was taken meanwhile; stored as {backup.Committed.Id}");
        }
    }

    /// <inheritdoc />
    public async Task<RestoreContainerSource> RestoreContainerInitAsync(string volumeName, string? storeId, CancellationToken cancellationToken)
    {
        var id = ArchiveNames.ToSnapshotId(volumeName);
        if (_containerRestores.ContainsKey(id))
        {
            throw new InvalidOperationException($"restore of {id} is already initialised");
        }

        await using var archive = ContainerArchive.Open(_repository, id);
        var runtime = Directory.CreateTempSubdirectory(_options.RuntimeDirectory is null ? "engine-ct-restore-" : Path.Combine(_options.RuntimeDirectory, "engine-ct-restore-")).FullName;
        try
        {
            RestoreContainerSource source;
            if (_options.ContainerRestoreMechanism == BackupMechanisms.Directory)
            {
                var tree = Path.Combine(runtime, "rootfs");
                var restored = await ContainerDirectoryRestorer.RestoreAsync(archive, tree, cancellationToken).ConfigureAwait(false);
                _log(ProviderLogLevel.Info, string.Create(CultureInfo.InvariantCulture, $"restored {id} into {tree}: {restored.Entries} entries, {restored.BytesWritten} bytes"));
                source = new RestoreContainerSource(null, tree);
            }
            else
            {
                var tar = Path.Combine(runtime, "archive.tar");
                var written = await ContainerTarWriter.WriteFileAsync(archive, tar, cancellationToken).ConfigureAwait(false);
                _log(ProviderLogLevel.Info, string.Create(CultureInfo.InvariantCulture, $"wrote {id} as {tar}: {written.Members} members, {written.Bytes} bytes"));
                source = new RestoreContainerSource(tar, null);
            }

            _containerRestores[id] = runtime;
            return source;
        }
        catch
        {
            DeleteRuntimeDirectory(runtime);
            throw;
        }
    }

    /// <inheritdoc />
    public void RestoreContainerCleanup(string volumeName, string? storeId = null)
    {
        if (_containerRestores.Remove(ArchiveNames.ToSnapshotId(volumeName), out var runtime))
        {
            DeleteRuntimeDirectory(runtime);
        }
    }

    private GuestBackup PendingBackup(string vmid, string call) =>
        _backups.TryGetValue(vmid, out var backup) ? backup : throw new InvalidOperationException($"{call} for guest {vmid} without backup_init");

    private void DeleteRuntimeDirectory(string runtime)
    {
        try
        {
            Directory.Delete(runtime, recursive: true);
        }
        catch (IOException e)
        {
            _log(ProviderLogLevel.Warn, $"cannot remove {runtime}: {e.Message}");
        }
    }
}
