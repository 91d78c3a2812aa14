using Engine.Backup.Repository;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Formats;
using Engine.Backup.Repository.Snapshots;
using Engine.Blocks;
using Engine.Blocks.Copying;
using Engine.Blocks.Devices;
using Engine.Blocks.Native;
using Microsoft.Win32.SafeHandles;

namespace Engine.Backup.Restore;

/// <summary>
/// Materializes a snapshot's disk as a sparse raw file (or writes it onto a block device): the fallback restore
/// path, and what <c>engine restore</c> does. Zero chunks and zero blocks inside chunks are never written, so holes
/// stay holes.
/// </summary>
public static class SnapshotRestorer
{
    private const int RestoreRequestSize = 1 << 20;

    /// <summary>Restores <paramref name="device"/> of <paramref name="snapshot"/> to a new file or a block device at <paramref name="targetPath"/>.</summary>
    /// <exception cref="SnapshotNotFoundException">The snapshot does not exist.</exception>
    /// <exception cref="DeviceNotFoundException">The snapshot has no such device.</exception>
    /// <exception cref="RestoreTargetException">The target exists and is not a block device.</exception>
    public static Task<BlockCopyResult> RestoreAsync(BackupRepository repository, SnapshotId snapshot, string device, string targetPath,
        IProgress<long>? progress = null, CancellationToken cancellationToken = default) =>
        RestoreAsync(repository, snapshot, device, targetPath, overwrite: false, progress, cancellationToken);

    /// <summary>Restores <paramref name="device"/> of <paramref name="snapshot"/> to <paramref name="targetPath"/>.</summary>
    /// <remarks>
    /// Only a path that is a block device (after links) is written in place. Anything else is a file the restore
    /// creates, private to its owner (0600): under a temporary name beside it, renamed into place only when complete
    /// and flushed, so a failed or cancelled restore never leaves a half-written image under the requested name, nor
    /// the temporary file. An existing regular file is replaced only with <paramref name="overwrite"/>.
    /// </remarks>
    /// <exception cref="SnapshotNotFoundException">The snapshot does not exist.</exception>
    /// <exception cref="DeviceNotFoundException">The snapshot has no such device.</exception>
    /// <exception cref="RestoreTargetException">
    /// The target exists and is not a block device (a regular file without <paramref name="overwrite"/>), its folder
    /// does not exist, or the block device is smaller than the disk.
    /// </exception>
    /// <exception cref="ChunkCorruptException">A chunk is damaged or is not the chunk the snapshot's index names.</exception>
    public static Task<BlockCopyResult> RestoreAsync(BackupRepository repository, SnapshotId snapshot, string device, string targetPath,
        bool overwrite, IProgress<long>? progress = null, CancellationToken cancellationToken = default) =>
        RestoreAsync(repository, snapshot, device, targetPath, overwrite, createImage: null, progress, cancellationToken);

    /// <summary>
    /// Restores like <see cref="RestoreAsync(BackupRepository, SnapshotId, string, string, bool, IProgress{long}?, CancellationToken)"/>,
    /// into a file of another image format when <paramref name="createImage"/> is given.
    /// </summary>
    /// <remarks>
    /// <c>createImage</c> is given the new, empty temporary file (its handle, which the device then owns, and its path)
    /// and the disk's size, and returns the image to copy the disk into (a qcow2 writer, say); null writes a sparse raw
    /// file. Block devices are only written raw.
    /// </remarks>
    /// <exception cref="RestoreTargetException">As the raw restore; also a block device target with <paramref name="createImage"/>.</exception>
    public static async Task<BlockCopyResult> RestoreAsync(BackupRepository repository, SnapshotId snapshot, string device, string targetPath,
        bool overwrite, Func<SafeFileHandle, string, long, IBlockDevice>? createImage, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentException.ThrowIfNullOrEmpty(targetPath);
        var index = OpenIndex(repository, snapshot, device);
        var isBlockDevice = RestoreTarget.Check(targetPath, overwrite);
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

        if (isBlockDevice && createImage is not null)
        {
            throw new RestoreTargetException(targetPath, $"{targetPath} is a block device; only raw is written onto one");
        }

        if (isBlockDevice)
        {
            await using var disk = FileBlockDevice.Open(targetPath, new FileBlockDeviceOptions());
            if (disk.Size < index.Size)
            {
                throw new RestoreTargetException(targetPath, $"{targetPath} holds {disk.Size} bytes, the disk needs {index.Size}");
            }

            return await BlockCopier.CopyAsync(source, disk, options, cancellationToken).ConfigureAwait(false);
        }

        var temporary = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(targetPath))!, $".{Path.GetFileName(targetPath)}.{Environment.ProcessId}.partial");
        // Created before the try: a name that is taken (EEXIST) belongs to someone else and must not be deleted.
        var handle = RepositoryFiles.CreateNew(temporary);

        // Deleted as soon as the restore is cancelled, not only once it unwinds: a process stopped by a signal may be
        // ended before it gets there. Renaming a deleted file fails, so a cancelled restore never lands.
        using var removeOnCancel = cancellationToken.Register(() => TryDelete(temporary));
        try
        {
            IBlockDevice target;
            if (createImage is not null)
            {
                target = createImage(handle, temporary, index.Size);
            }
            else
            {
                using (var stream = new FileStream(handle, FileAccess.Write, bufferSize: 0))
                {
                    stream.SetLength(index.Size);
                }

                target = FileBlockDevice.Open(temporary, new FileBlockDeviceOptions { StreamingWrites = true });
            }

            BlockCopyResult result;
            await using (var file = target)
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

            RestoreTarget.MoveIntoPlace(temporary, targetPath, overwrite);
            return result;
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: the error that stopped the restore is the one to report.
        }
    }

    /// <summary>Whether a restore to <paramref name="targetPath"/> writes in place (a block device) rather than a new file.</summary>
    internal static bool WritesInPlace(string targetPath) =>
        RepositoryCalls.FileType(targetPath, out _) == Statx.BlockDevice;

    /// <summary>The index of one device of a snapshot, with an error that lists the devices there are.</summary>
    /// <exception cref="SnapshotNotFoundException">The snapshot does not exist.</exception>
    /// <exception cref="DeviceNotFoundException">The snapshot has no such device.</exception>
    internal static DeviceIndex OpenIndex(BackupRepository repository, SnapshotId snapshot, string device)
    {
        ArgumentNullException.ThrowIfNull(repository);
        return repository.ReadIndex(snapshot, device);
    }
}
