using Engine.Provider.Api;

namespace ImageFiles;

/// <summary>
/// A backup provider in the spirit of Proxmox's <c>DirectoryExample</c>, on Engine's packages: a VM disk's backup is
/// a raw image file (sparse for a full backup; an incremental is a copy of the previous image with the dirty regions
/// written over it), a container's is a tar, and restores hand PVE paths to those files. Engine does the PVE side:
/// the JSON-lines host, the NBD client, the file handles and their dirty regions.
/// </summary>
internal sealed partial class ImageFilesProvider(ArchiveStore store, string vmMechanism, ProviderLogFunction log) : IBackupProvider
{
    // Guests between backup_init and backup_cleanup, and the last archive of each (for its task log).
    private readonly Dictionary<string, ArchiveName> _backups = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ArchiveName> _finished = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public string ProviderName => "image-files";

    /// <inheritdoc />
    public IArchiveNaming ArchiveNaming => ArchiveNames.Instance;

    /// <inheritdoc />
    public void JobInit(DateTimeOffset startTime)
    {
        Directory.CreateDirectory(store.Root);
        log(ProviderLogLevel.Info, $"backup job to image files in {store.Root}");
    }

    /// <inheritdoc />
    public void JobCleanup() => _backups.Clear();

    /// <inheritdoc />
    public string BackupInit(string vmid, GuestType guestType, DateTimeOffset startTime)
    {
        // Only finished archives take a name: a container's backup_container runs in a fresh process that calls this
        // again with the same time and must get the same name while the backup is still partial.
        var name = ArchiveName.For(guestType, vmid, startTime);
        while (Directory.Exists(store.Committed(name)))
        {
            name = name.Next();
        }

        _backups[vmid] = name;
        return name.ToString();
    }

    /// <inheritdoc />
    public Task<BackupCleanupResult> BackupCleanupAsync(string vmid, GuestType guestType, bool success, string? error, CancellationToken cancellationToken)
    {
        if (!_backups.Remove(vmid, out var name))
        {
            throw new InvalidOperationException($"backup_cleanup for guest {vmid} without backup_init");
        }

        _finished[vmid] = name;
        var partial = store.Partial(name);
        if (!Directory.Exists(partial))
        {
            return Task.FromResult(new BackupCleanupResult(null));
        }

        if (!success)
        {
            Directory.Delete(partial, recursive: true);
            log(ProviderLogLevel.Warn, $"backup of guest {vmid} failed ({error ?? "no reason given"}): removed {name}");
            return Task.FromResult(new BackupCleanupResult(null));
        }

        store.Commit(name);
        var size = new DirectoryInfo(store.Committed(name)).EnumerateFiles()
            .Where(f => f.Extension == ArchiveStore.ImageExtension || f.Name == ArchiveStore.ContainerTar)
            .Sum(f => f.Length);
        return Task.FromResult(new BackupCleanupResult(size));
    }

    /// <inheritdoc />
    public string BackupGetMechanism(string vmid, GuestType guestType) =>
        guestType == GuestType.Lxc ? BackupMechanisms.Directory : vmMechanism;

    /// <inheritdoc />
    public void BackupHandleLogFile(string vmid, string fileName)
    {
        var name = _backups.TryGetValue(vmid, out var pending) ? pending
            : _finished.TryGetValue(vmid, out var last) ? last
            : throw new InvalidOperationException($"backup_handle_log_file for guest {vmid} without a backup");
        File.Copy(fileName, store.Committed(name) + ".log", overwrite: true);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        // Restores PVE did not clean up (it was killed): their links go, the archives stay.
        foreach (var runtime in _restores.Values)
        {
            Directory.Delete(runtime, recursive: true);
        }

        _restores.Clear();
        return ValueTask.CompletedTask;
    }

    /// <summary>Creates the partial archive directory of a pending backup, with the guest's configuration files.</summary>
    private ArchiveName StartArchive(string vmid, string what, string guestConfig, string? firewallConfig)
    {
        var name = _backups.TryGetValue(vmid, out var pending) ? pending : throw new InvalidOperationException($"{what} for guest {vmid} without backup_init");
        var partial = store.Partial(name);
        Directory.CreateDirectory(partial);
        File.WriteAllText(Path.Combine(partial, ArchiveStore.GuestConfig), guestConfig);
        if (firewallConfig is not null)
        {
            File.WriteAllText(Path.Combine(partial, ArchiveStore.FirewallConfig), firewallConfig);
        }

        return name;
    }
}
