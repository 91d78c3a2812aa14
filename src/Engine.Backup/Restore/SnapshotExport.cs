using Engine.Backup.Repository;
using Engine.Backup.Repository.Snapshots;
using Engine.Blocks.Fuse;
using Engine.Nbd.Server;
using Microsoft.Extensions.Logging;

namespace Engine.Backup.Restore;

/// <summary>
/// Serves every disk of a snapshot, read-only, on one NBD Unix socket (export name = device name), and optionally
/// as local files in FUSE mounts of Engine's own (<see cref="FuseBlockFile"/>): the path PVE's <c>qemu-img</c>
/// restore mechanism wants, since its checks reject an NBD URI. The files read straight from the disks (no NBD round
/// trip) and answer <c>SEEK_DATA</c>/<c>SEEK_HOLE</c>, so <c>qemu-img convert</c> skips the zero chunks. Disposing
/// unmounts, stops the server and closes the disks.
/// </summary>
public sealed class SnapshotExport : IAsyncDisposable
{
    private readonly NbdServer _server;
    private readonly List<SnapshotVolumeDevice> _devices = [];
    private readonly List<FuseBlockFile> _mounts = [];
    private readonly Dictionary<string, string> _uris = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _files = new(StringComparer.Ordinal);
    private int _disposed;

    private SnapshotExport(NbdServer server, string socketPath)
    {
        _server = server;
        SocketPath = socketPath;
    }

    /// <summary>The Unix socket the disks are served on.</summary>
    public string SocketPath { get; }

    /// <summary>Device name to NBD URI.</summary>
    public IReadOnlyDictionary<string, string> Uris => _uris;

    /// <summary>Device name to the FUSE file that reads it; empty without a FUSE directory.</summary>
    public IReadOnlyDictionary<string, string> Files => _files;

    /// <summary>
    /// Starts serving; with <paramref name="fuseDirectory"/> also mounts each disk at <c>DIR/DEVICE/disk.raw</c>.
    /// <paramref name="serverOptions"/> sets the NBD server's connection cap, handshake deadline and logging; when
    /// null, the defaults with <paramref name="loggerFactory"/> apply.
    /// </summary>
    /// <exception cref="SnapshotNotFoundException">The snapshot does not exist.</exception>
    /// <exception cref="IOException">libfuse3 or /dev/fuse is missing, or a mount failed.</exception>
    /// <exception cref="Nbd.Transport.NbdListenException">The socket path holds a file or a live server's socket.</exception>
    public static async Task<SnapshotExport> StartAsync(BackupRepository repository, SnapshotId snapshot, string socketPath, string? fuseDirectory = null,
        ILoggerFactory? loggerFactory = null, NbdServerOptions? serverOptions = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentException.ThrowIfNullOrEmpty(socketPath);
        var manifest = repository.ReadManifest(snapshot);
        var export = new SnapshotExport(new NbdServer(serverOptions ?? new NbdServerOptions { LoggerFactory = loggerFactory }), Path.GetFullPath(socketPath));
        try
        {
            foreach (var entry in manifest.Devices)
            {
                var device = SnapshotVolumeDevice.Open(repository, snapshot, entry.Name);
                export._devices.Add(device);
                export._server.AddExport(new NbdExport(entry.Name, device, $"{snapshot} {entry.Name}", readOnly: true));
                export._uris[entry.Name] = $"nbd+unix:///{Uri.EscapeDataString(entry.Name)}?socket={export.SocketPath}";
            }

            export._server.ListenUnix(export.SocketPath);
            if (fuseDirectory is not null)
            {
                var logger = loggerFactory?.CreateLogger<SnapshotExport>();
                foreach (var device in export._devices)
                {
                    var mountPoint = Path.Combine(Path.GetFullPath(fuseDirectory), device.Device);
                    export._files[device.Device] = await export.MountAsync(mountPoint, device, logger, cancellationToken).ConfigureAwait(false);
                }
            }

            return export;
        }
        catch
        {
            await export.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (var mount in _mounts)
        {
            mount.Dispose();
            try
            {
                Directory.Delete(mount.MountPoint);
            }
            catch (IOException)
            {
                // Still in use or not empty: leave it rather than remove somebody's files.
            }
        }

        await _server.StopAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        await _server.DisposeAsync().ConfigureAwait(false);
        foreach (var device in _devices)
        {
            await device.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task<string> MountAsync(string mountPoint, SnapshotVolumeDevice device, ILogger? logger, CancellationToken cancellationToken)
    {
        var options = new FuseBlockFileOptions
        {
            OnError = logger is null ? null : (what, cause) => RestoreLog.FuseRequestFailed(logger, what, cause.Message, cause),
        };
        var file = await FuseBlockFile.MountAsync(mountPoint, "disk.raw", device, options, cancellationToken).ConfigureAwait(false);
        _mounts.Add(file);
        return file.Path;
    }
}
