using Engine.Backup.Repository;
using Engine.Blocks;
using Engine.Blocks.Copying;
using Engine.Blocks.Devices;

namespace Engine.Backup.Restore;

/// <summary>
/// Materializes a snapshot's disk as a sparse raw file (or writes it onto a block device): the fallback restore
/// path, and what <c>engine restore</c> does. Zero chunks and zero blocks inside chunks are never written, so holes
/// stay holes.
/// </summary>
public static class SnapshotRestorer
{
    private const int RestoreRequestSize = 1 << 20;

    /// <summary>Restores <paramref name="device"/> of <paramref name="snapshot"/> to <paramref name="targetPath"/>.</summary>
    /// <remarks>
    /// A regular file target is written under a temporary name beside it and renamed into place only when complete
    /// and flushed, so a failed restore never leaves a half-written image under the requested name.
    /// </remarks>
    /// <exception cref="SnapshotNotFoundException">The snapshot does not exist.</exception>
    /// <exception cref="ArgumentException">The snapshot has no such device.</exception>
    public static async Task<BlockCopyResult> RestoreAsync(BackupRepository repository, SnapshotId snapshot, string device, string targetPath,
        IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentException.ThrowIfNullOrEmpty(targetPath);
        var index = OpenIndex(repository, snapshot, device);
        await using var source = new SnapshotVolumeDevice(repository, index, readAheadChunks: 2);

        // Requests smaller than a chunk, so that zero blocks inside a stored chunk are detected and left as holes;
        // the device's cache decompresses each chunk once however many requests read from it.
        var options = new BlockCopyOptions
        {
            RequestSize = Math.Min(index.ChunkSize, RestoreRequestSize),
            RequestsInFlight = Math.Max(2, Environment.ProcessorCount * 2),
            DetectZeroes = true,
            FlushTarget = true,
            Progress = progress,
        };

        if (IsBlockDevice(targetPath))
        {
            await using var disk = FileBlockDevice.Open(targetPath, new FileBlockDeviceOptions());
            if (disk.Size < index.Size)
            {
                throw new ArgumentException($"{targetPath} holds {disk.Size} bytes, the disk needs {index.Size}", nameof(targetPath));
            }

            return await BlockCopier.CopyAsync(source, disk, options, cancellationToken).ConfigureAwait(false);
        }

        var temporary = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(targetPath))!, $".{Path.GetFileName(targetPath)}.{Environment.ProcessId}.partial");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write))
            {
                stream.SetLength(index.Size);
            }

            BlockCopyResult result;
            await using (var file = FileBlockDevice.Open(temporary, new FileBlockDeviceOptions { StreamingWrites = true }))
            {
                result = await BlockCopier.CopyAsync(source, file, new BlockCopyOptions
                {
                    RequestSize = options.RequestSize,
                    RequestsInFlight = options.RequestsInFlight,
                    DetectZeroes = true,
                    TargetIsZeroed = true,
                    FlushTarget = true,
                    Progress = progress,
                }, cancellationToken).ConfigureAwait(false);
            }

            File.Move(temporary, targetPath, overwrite: true);
            return result;
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    /// <summary>The index of one device of a snapshot, with an error that lists the devices there are.</summary>
    public static DeviceIndex OpenIndex(BackupRepository repository, SnapshotId snapshot, string device)
    {
        ArgumentNullException.ThrowIfNull(repository);
        var manifest = repository.ReadManifest(snapshot);
        foreach (var entry in manifest.Devices)
        {
            if (entry.Name == device)
            {
                return repository.ReadIndex(snapshot, device);
            }
        }

        var names = new List<string>();
        foreach (var entry in manifest.Devices)
        {
            names.Add(entry.Name);
        }

        throw new ArgumentException($"snapshot {snapshot} has no disk '{device}' (it has: {string.Join(", ", names)})", nameof(device));
    }

    // Device nodes are written in place; everything else is a file that the restore creates.
    private static bool IsBlockDevice(string path) => path.StartsWith("/dev/", StringComparison.Ordinal);
}
