using Engine.Provider.Api;

namespace ImageFiles;

/// <summary>Restores: PVE reads the archive's files through links in a directory that lives as long as the restore.</summary>
internal sealed partial class ImageFilesProvider
{
    // Each restore's private directory, by volume name.
    private readonly Dictionary<string, string> _restores = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public RestoreMechanism RestoreGetMechanism(string volumeName, string? storeId = null)
    {
        store.Existing(volumeName);
        return ArchiveName.Parse(volumeName).Type == "ct"
            ? new RestoreMechanism(BackupMechanisms.Tar, GuestType.Lxc)
            : new RestoreMechanism(BackupMechanisms.QemuImg, GuestType.Qemu);
    }

    /// <inheritdoc />
    public string ArchiveGetGuestConfig(string volumeName, string? storeId = null) =>
        File.ReadAllText(Path.Combine(store.Existing(volumeName), ArchiveStore.GuestConfig));

    /// <inheritdoc />
    public string? ArchiveGetFirewallConfig(string volumeName, string? storeId = null)
    {
        var file = Path.Combine(store.Existing(volumeName), ArchiveStore.FirewallConfig);
        return File.Exists(file) ? File.ReadAllText(file) : null;
    }

    /// <inheritdoc />
    public Task<IReadOnlyDictionary<string, long>> RestoreVmInitAsync(string volumeName, CancellationToken cancellationToken)
    {
        var archive = store.Existing(volumeName);
        StartRestore(volumeName);
        IReadOnlyDictionary<string, long> sizes = new DirectoryInfo(archive).EnumerateFiles("*" + ArchiveStore.ImageExtension)
            .ToDictionary(f => Path.GetFileNameWithoutExtension(f.Name), f => f.Length, StringComparer.Ordinal);
        return Task.FromResult(sizes);
    }

    /// <inheritdoc />
    public string RestoreVmVolumeInit(string volumeName, string deviceName)
    {
        var image = ArchiveStore.Image(store.Existing(volumeName), deviceName);
        return File.Exists(image)
            ? LinkForRestore(volumeName, image, deviceName + ArchiveStore.ImageExtension)
            : throw new FileNotFoundException($"{volumeName} has no device '{deviceName}'", image);
    }

    /// <inheritdoc />
    public void RestoreVmVolumeCleanup(string volumeName, string deviceName)
    {
        // The link goes with the restore's directory in restore_vm_cleanup.
    }

    /// <inheritdoc />
    public Task RestoreVmCleanupAsync(string volumeName)
    {
        EndRestore(volumeName);
        return Task.CompletedTask;
    }

    /// <summary>Starts a restore: a private directory for the paths handed to PVE.</summary>
    private void StartRestore(string volumeName)
    {
        if (_restores.ContainsKey(volumeName))
        {
            throw new InvalidOperationException($"restore of {volumeName} is already initialised");
        }

        _restores[volumeName] = Directory.CreateTempSubdirectory("image-files-restore-").FullName;
    }

    /// <summary>
    /// A symbolic link to an archive file in the restore's directory. PVE reads the image or tar itself, but the
    /// path it gets is the restore's: it disappears when the restore ends, and PVE never holds a path into the archive.
    /// </summary>
    private string LinkForRestore(string volumeName, string file, string linkName)
    {
        var runtime = _restores.TryGetValue(volumeName, out var directory) ? directory : throw new InvalidOperationException($"{volumeName}: the restore was not initialised");
        var link = Path.Combine(runtime, linkName);
        File.CreateSymbolicLink(link, file);
        return link;
    }

    private void EndRestore(string volumeName)
    {
        if (_restores.Remove(volumeName, out var runtime))
        {
            Directory.Delete(runtime, recursive: true);
        }
    }
}
