using System.Globalization;
using Engine.Backup.Containers.Archive;
using Engine.Backup.Containers.Restore;
using Engine.Backup.Containers.Tar;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Snapshots;
using Engine.Blocks.Native;
using Engine.Provider.Api;

namespace Engine.Provider.Repository;

/// <summary>
/// Containers: <c>directory</c> backups become a file-level archive (content-defined chunks, so unchanged files dedup
/// across backups) in the guest's <c>ct/VMID/TIME</c> snapshot; restores hand PVE a pax tar file or a directory tree.
/// </summary>
/// <remarks>
/// PVE runs <c>backup_container</c> as the container's ID-mapped root (100000 for an unprivileged container), in a
/// fork inside its user and mount namespaces, where the repository (owned by the host's root) is read-only. So
/// <c>backup_container_prepare</c>, still privileged, creates a staging directory owned by that user; the backup
/// writes a staging repository there that dedups read-only against the main chunk store, so it holds only new
/// chunks; <c>backup_cleanup</c>, privileged again, imports it (every staged chunk rehashed: the staging side is the
/// container's) and removes it. A privileged container, whose mapped root is this process's own user, is backed up
/// straight into the repository.
/// </remarks>
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

        if (info.BackupUserId is not { } user || user == LibC.GetEffectiveUserId())
        {
            return;
        }

        if (user is < 0 or > uint.MaxValue - 1)
        {
            throw new ArgumentException($"backup-user-id {user} is not a user id", nameof(info));
        }

        var staging = StagingDirectory(backup.Id);
        if (Directory.Exists(staging))
        {
            Directory.Delete(staging, recursive: true); // left by a crashed earlier attempt at this very archive
        }

        LibC.CreatePrivateDirectory(staging, (uint)user, (uint)user);
        _log(ProviderLogLevel.Info, string.Create(CultureInfo.InvariantCulture, $"{backup.Id}: staging in {staging} for user {user}"));
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
        var staging = StagingDirectory(backup.Id);
        var request = new ContainerBackupRequest
        {
            // A staged backup's reference (the guest's newest snapshot) is in the main repository; when the container's
            // user cannot read it there, every file is read.
            BaseRepository = Directory.Exists(staging) ? _repository : null,
            Vmid = vmid,
            Directory = directory,
            Sources = info.Sources.Count == 0 ? ["."] : info.Sources,
            ExcludePatterns = exclude,
            GuestConfig = guestConfig,
            FirewallConfig = info.FirewallConfig,
            BandwidthLimit = info.BandwidthLimit,
            Time = backup.Id.Time,
        };
        if (Directory.Exists(staging))
        {
            using var stagingRepository = BackupRepository.Open(staging, new RepositoryOptions
            {
                ChunkSize = _repository.ChunkSize,
                CompressionLevel = _repository.CompressionLevel,
                ParentChunkDirectory = _repository.LocalChunks.Directory,
            });
            var staged = await ContainerBackupEngine.BackupAsync(stagingRepository, request, progress: null, cancellationToken).ConfigureAwait(false);
            LogContainerBackup(staged, "staged");
            return;
        }

        backup.Committed = await ContainerBackupEngine.BackupAsync(_repository, request, progress: null, cancellationToken).ConfigureAwait(false);
        LogContainerBackup(backup.Committed, "stored");
        if (backup.Committed.Id != backup.Id)
        {
            _log(ProviderLogLevel.Warn, $"snapshot {backup.Id} was taken meanwhile; stored as {backup.Committed.Id}");
        }
    }

    private void LogContainerBackup(SnapshotManifest manifest, string how)
    {
        var stats = manifest.Stats;
        _log(ProviderLogLevel.Info, string.Create(CultureInfo.InvariantCulture,
            $"{manifest.Id} {how}: {manifest.Archive?.Files ?? 0} files, {stats.BytesRead} bytes read, {stats.BytesStored} stored, {stats.BytesReused} reused; reference {(manifest.Extra.TryGetValue("ct.reference", out var reference) ? reference : "none")}"));
    }

    /// <summary>
    /// Imports the snapshot a container backup staged (when it succeeded) and removes the staging directory either
    /// way; null when nothing was staged for this backup.
    /// </summary>
    private async Task<SnapshotManifest?> ImportStagedAsync(SnapshotId id, bool success, CancellationToken cancellationToken)
    {
        var staging = StagingDirectory(id);
        if (!Directory.Exists(staging))
        {
            return null;
        }

        try
        {
            if (!success || !File.Exists(Path.Combine(staging, RepositoryConfig.FileName)))
            {
                return null;
            }

            var imported = await _repository.ImportSnapshotAsync(staging, id, cancellationToken).ConfigureAwait(false);
            _log(ProviderLogLevel.Info, $"{imported.Id}: imported from the staging repository");
            return imported;
        }
        finally
        {
            DeleteRuntimeDirectory(staging);
        }
    }

    /// <summary>
    /// Where an unprivileged container's backup is staged: inside the repository, on its disk (the staged chunks are the
    /// container's new data) and named by the archive, so the fork finds it from the archive name alone.
    /// </summary>
    private string StagingDirectory(SnapshotId id) =>
        Path.Combine(_repository.Directory, "staging", string.Concat(id.Type, "-", id.Vmid, "-", id.TimeText.Replace(':', '-')));

    /// <inheritdoc />
    public async Task<RestoreContainerSource> RestoreContainerInitAsync(string volumeName, string? storeId, CancellationToken cancellationToken)
    {
        var id = SnapshotArchiveNaming.ToSnapshotId(volumeName);
        if (_containerRestores.ContainsKey(id))
        {
            throw new InvalidOperationException($"restore of {id} is already initialised");
        }

        await using var archive = ContainerArchive.Open(_repository, id);
        var runtime = CreateRuntimeDirectory("engine-ct-restore-");
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
        if (_containerRestores.Remove(SnapshotArchiveNaming.ToSnapshotId(volumeName), out var runtime))
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
