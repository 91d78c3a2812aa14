using System.Diagnostics;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Formats;
using Engine.Backup.Repository.Snapshots;
using Engine.Backup.Transfer;
using Engine.Blocks.Work;
using Engine.Sources;
using Microsoft.Extensions.Logging.Abstractions;

namespace Engine.Backup.VmBackup;

/// <summary>
/// Backs up a VM's disks into one repository snapshot. A disk whose source has a dirty bitmap that the previous
/// snapshot of the same guest was made with (same device, same size) is read incrementally: only dirty regions,
/// merged over the previous chunks. Anything else is a full backup of the disk's data ranges. The call returns only
/// once the snapshot is durable, because PVE commits the bitmap the moment <c>backup_vm</c> returns.
/// </summary>
public sealed class VmBackupEngine
{
    private readonly BackupRepository _repository;

    /// <summary>Creates an engine over an open repository.</summary>
    public VmBackupEngine(BackupRepository repository)
    {
        ArgumentNullException.ThrowIfNull(repository);
        _repository = repository;
    }

    /// <summary>Runs the backup; on any failure nothing becomes visible in the repository.</summary>
    /// <exception cref="ArgumentException">The request names a device twice.</exception>
    public async Task<SnapshotManifest> BackupAsync(VmBackupRequest request, VmBackupOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        options ??= new VmBackupOptions();
        var logger = options.Logger ?? NullLogger.Instance;
        CheckDistinctDevices(request.Volumes);
        var clock = Stopwatch.StartNew();
        var counters = new BackupCounters();
        var limiter = new BandwidthLimiter(options.BandwidthLimit);
        var history = _repository.ListSnapshots("vm", request.Vmid);

        await using var writer = _repository.BeginSnapshot("vm", request.Vmid, request.Time, cancellationToken);
        SnapshotId? parent = null;
        foreach (var volume in request.Volumes)
        {
            var previous = FindPrevious(history, volume, out var previousId, out var fullReason);
            if (previous is not null)
            {
                parent ??= previousId;
                BackupLog.Incremental(logger, volume.Device, previousId!.Value, volume.Bitmap!);
            }
            else if (fullReason is not null)
            {
                BackupLog.FullBecause(logger, volume.Device, volume.Size, fullReason);
            }
            else
            {
                BackupLog.Full(logger, volume.Device, volume.Size);
            }

            var job = new DiskBackupJob(_repository, volume, previous, options, counters, limiter, clock);
            await job.RunAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                writer.AddDevice(volume.Device, volume.Size, _repository.ChunkSize, job.Digests, volume.Bitmap, previous, fullReason);
            }
            catch (Exception e) when (previous is not null && e is ChunkMissingException or ChunkCorruptException)
            {
                throw new InvalidDataException($"{volume.Device}: the previous snapshot {previousId} lost a chunk ({e.Message}); back up with a new bitmap (full)", e);
            }
        }

        var manifest = writer.Manifest;
        manifest.GuestConfig = request.GuestConfig;
        manifest.FirewallConfig = request.FirewallConfig;
        manifest.Parent = parent;
        manifest.Stats = counters.ToStats(clock.Elapsed);
        var committed = await writer.CommitAsync(cancellationToken).ConfigureAwait(false);
        committed.Stats.DurationSeconds = clock.Elapsed.TotalSeconds;
        BackupLog.Committed(logger, committed.Id, counters.BytesRead, counters.BytesReused, counters.BytesStored, clock.Elapsed.TotalSeconds);
        return committed;
    }

    /// <summary>
    /// The index an incremental backup of <paramref name="volume"/> builds on: the newest snapshot whose entry for
    /// the device was made with the same bitmap (the bitmap holds the changes since that backup), provided the size
    /// is unchanged. Without a bitmap there is none. When there is a bitmap but no such index,
    /// <paramref name="fullReason"/> says why the backup is full.
    /// </summary>
    private DeviceIndex? FindPrevious(IReadOnlyList<SnapshotManifest> history, IVolumeSource volume, out SnapshotId? id, out string? fullReason)
    {
        id = null;
        fullReason = null;
        if (volume.Bitmap is null)
        {
            return null;
        }

        for (var i = history.Count - 1; i >= 0; i--)
        {
            foreach (var device in history[i].Devices)
            {
                if (device.Name != volume.Device || device.Bitmap != volume.Bitmap)
                {
                    continue;
                }

                // Resized since the bitmap's last use: only a full backup is right.
                if (device.Size != volume.Size)
                {
                    fullReason = $"the earlier snapshot {history[i].Id} of {volume.Device} (bitmap {volume.Bitmap}) had size {device.Size}, now {volume.Size}";
                    return null;
                }

                if (device.ChunkSize != _repository.ChunkSize)
                {
                    fullReason = $"the earlier snapshot {history[i].Id} of {volume.Device} has chunks of {device.ChunkSize} bytes, the repository now {_repository.ChunkSize}";
                    return null;
                }

                id = history[i].Id;
                return _repository.ReadIndex(history[i].Id, device.Name);
            }
        }

        fullReason = $"no earlier snapshot of {volume.Device} used bitmap {volume.Bitmap}";
        return null;
    }

    private static void CheckDistinctDevices(IReadOnlyList<IVolumeSource> volumes)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var volume in volumes)
        {
            if (!names.Add(volume.Device))
            {
                throw new ArgumentException($"device {volume.Device} appears twice", nameof(volumes));
            }
        }
    }
}
