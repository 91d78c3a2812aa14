using Engine.Provider.Api;

namespace ImageFiles;

/// <summary>Containers: the <c>directory</c> mechanism's tree becomes one tar file; restores hand that tar to PVE.</summary>
internal sealed partial class ImageFilesProvider
{
    /// <inheritdoc />
    public void BackupContainerPrepare(string vmid, BackupContainerInfo info)
    {
        // PVE calls this as root before backup_container runs as the container's mapped root. An unprivileged
        // container's backup user could not write the partial directory; this sample serves privileged containers.
        if (info.BackupUserId is > 0 and var user)
        {
            log(ProviderLogLevel.Warn, $"guest {vmid}: backup-user-id {user} must be able to write to {store.Root}");
        }
    }

    /// <inheritdoc />
    public async Task BackupContainerAsync(string vmid, string guestConfig, IReadOnlyList<string> excludePatterns, BackupContainerInfo info, CancellationToken cancellationToken)
    {
        var directory = info.Directory ?? throw new ArgumentException("backup_container: $info has no 'directory'", nameof(info));
        var name = StartArchive(vmid, "backup_container", guestConfig, info.FirewallConfig);
        var tar = Path.Combine(store.Partial(name), ArchiveStore.ContainerTar);
        var files = await ContainerTar.WriteAsync(directory, info.Sources.Count == 0 ? ["."] : info.Sources, excludePatterns, tar, cancellationToken).ConfigureAwait(false);
        log(ProviderLogLevel.Info, $"{name}: {files} entries in {ArchiveStore.ContainerTar}");
    }

    /// <inheritdoc />
    public Task<RestoreContainerSource> RestoreContainerInitAsync(string volumeName, string? storeId, CancellationToken cancellationToken)
    {
        var tar = Path.Combine(store.Existing(volumeName), ArchiveStore.ContainerTar);
        if (!File.Exists(tar))
        {
            throw new FileNotFoundException($"{volumeName} holds no container archive", tar);
        }

        StartRestore(volumeName);
        return Task.FromResult(new RestoreContainerSource(LinkForRestore(volumeName, tar, ArchiveStore.ContainerTar), null));
    }

    /// <inheritdoc />
    public void RestoreContainerCleanup(string volumeName, string? storeId = null) => EndRestore(volumeName);
}
