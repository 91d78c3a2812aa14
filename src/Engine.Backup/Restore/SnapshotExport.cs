using System.Diagnostics;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Snapshots;
using Engine.Nbd.Server;
using Microsoft.Extensions.Logging;

namespace Engine.Backup.Restore;

/// <summary>
/// Serves every disk of a snapshot, read-only, on one NBD Unix socket (export name = device name), and optionally
/// as local files through nbdfuse: the path PVE's <c>qemu-img</c> restore mechanism wants, since its checks reject
/// an NBD URI. Disposing unmounts, stops the server and closes the disks.
/// </summary>
public sealed class SnapshotExport : IAsyncDisposable
{
    private static readonly TimeSpan MountTimeout = TimeSpan.FromSeconds(30);
    private readonly NbdServer _server;
    private readonly List<SnapshotVolumeDevice> _devices = [];
    private readonly List<(string MountPoint, Process Process)> _mounts = [];
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
    /// <exception cref="IOException">nbdfuse is missing or a mount did not appear in time.</exception>
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
                foreach (var entry in manifest.Devices)
                {
                    var mountPoint = Path.Combine(Path.GetFullPath(fuseDirectory), entry.Name);
                    export._files[entry.Name] = await export.MountAsync(mountPoint, export._uris[entry.Name], entry.Size, cancellationToken).ConfigureAwait(false);
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

        foreach (var (mountPoint, process) in _mounts)
        {
            await UnmountAsync(mountPoint, process).ConfigureAwait(false);
        }

        await _server.StopAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        await _server.DisposeAsync().ConfigureAwait(false);
        foreach (var device in _devices)
        {
            await device.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task<string> MountAsync(string mountPoint, string uri, long size, CancellationToken cancellationToken)
    {
        const string nbdfuse = "/usr/bin/nbdfuse";
        if (!File.Exists(nbdfuse))
        {
            throw new IOException($"{nbdfuse} is missing: install the Debian package nbdfuse (and fuse3)");
        }

        Directory.CreateDirectory(mountPoint);
        var file = Path.Combine(mountPoint, "disk.raw");
        var start = new ProcessStartInfo(nbdfuse) { RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-r");
        start.ArgumentList.Add(file);
        start.ArgumentList.Add(uri);
        var process = Process.Start(start) ?? throw new IOException($"cannot start {nbdfuse}");
        _mounts.Add((mountPoint, process));
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        var deadline = Stopwatch.StartNew();
        while (!(File.Exists(file) && new FileInfo(file).Length == size))
        {
            if (process.HasExited)
            {
                throw new IOException($"nbdfuse {file} {uri} exited with {process.ExitCode}: {(await stderr.ConfigureAwait(false)).Trim()}");
            }

            if (deadline.Elapsed > MountTimeout)
            {
                throw new IOException($"nbdfuse did not mount {file} within {MountTimeout.TotalSeconds} s");
            }

            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }

        return file;
    }

    private static async Task UnmountAsync(string mountPoint, Process process)
    {
        using (process)
        {
            if (!process.HasExited)
            {
                await RunAsync("/usr/bin/fusermount3", "-u", mountPoint).ConfigureAwait(false);
                using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                try
                {
                    await process.WaitForExitAsync(wait.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // Busy mount: detach it lazily and stop nbdfuse, rather than hang the caller.
                    await RunAsync("/usr/bin/fusermount3", "-u", "-z", mountPoint).ConfigureAwait(false);
                    process.Kill();
                }
            }
        }

        try
        {
            Directory.Delete(mountPoint);
        }
        catch (IOException)
        {
            // Still mounted or not empty: leave it rather than remove somebody's files.
        }
    }

    private static async Task RunAsync(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { UseShellExecute = false, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start);
        if (process is not null)
        {
            await process.WaitForExitAsync().ConfigureAwait(false);
        }
    }
}
