using System.Net;
using System.Net.Sockets;
using Engine.Nbd.Server.Connections;
using Engine.Nbd.Transport;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Engine.Nbd.Server;

/// <summary>
/// An NBD server: fixed-newstyle handshake, structured and extended replies, meta contexts, several exports, over
/// Unix sockets and TCP. Each connection is served by its own reader and writer threads doing blocking syscalls
/// (see <see cref="NbdConnection"/>); listeners accept asynchronously.
/// </summary>
/// <example>
/// <code>
/// await using var server = new NbdServer();
/// server.AddExport(new NbdExport("", device));
/// server.ListenUnix("/run/engine.sock");
/// ...
/// await server.StopAsync(TimeSpan.FromSeconds(10));
/// </code>
/// </example>
public sealed class NbdServer : IAsyncDisposable
{
    private readonly Dictionary<string, NbdExport> _exports = new(StringComparer.Ordinal);
    private readonly List<NbdExport> _exportOrder = [];
    private readonly List<Socket> _listeners = [];
    private readonly List<Task> _acceptLoops = [];
    private readonly HashSet<NbdConnection> _connections = [];
    private readonly List<string> _unixPaths = [];
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly ILogger _logger;
    private NbdExport? _defaultExport;
    private Task? _stopTask;
    private long _connectionIds;

    /// <summary>Creates a server with no exports and no listeners.</summary>
    public NbdServer(NbdServerOptions? options = null)
    {
        Options = options ?? new NbdServerOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(Options.MaxRequestsInFlight, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(Options.MaxPayload, 4096);
        ArgumentOutOfRangeException.ThrowIfLessThan(Options.MaxConnections, 1);
        HandshakeTimeouts.Check(Options.HandshakeTimeout, nameof(options));
        if (Options.TlsMode != NbdTlsMode.Off && Options.TlsServer is null)
        {
            throw new ArgumentException($"TLS mode {Options.TlsMode} needs a TlsServer", nameof(options));
        }

        _logger = Options.LoggerFactory?.CreateLogger("Engine.Nbd.Server") ?? NullLogger.Instance;
    }

    /// <summary>The options the server runs with.</summary>
    public NbdServerOptions Options { get; }

    /// <summary>Connections currently open.</summary>
    public int ActiveConnections
    {
        get
        {
            lock (_lock)
            {
                return _connections.Count;
            }
        }
    }

    /// <summary>
    /// Adds an export. The first export added is also the default: a client asking for the empty name gets it,
    /// unless an export is literally named "".
    /// </summary>
    /// <exception cref="ArgumentException">An export with that name exists.</exception>
    public void AddExport(NbdExport export)
    {
        ArgumentNullException.ThrowIfNull(export);
        lock (_lock)
        {
            if (!_exports.TryAdd(export.Name, export))
            {
                throw new ArgumentException($"export '{export.Name}' already exists", nameof(export));
            }

            _exportOrder.Add(export);
            if (_defaultExport is null || export.Name.Length == 0)
            {
                _defaultExport = export;
            }
        }
    }

    /// <summary>
    /// Starts accepting on a Unix socket at <paramref name="path"/>. A socket left there by a server that is gone is
    /// replaced; anything else at the path is left alone.
    /// </summary>
    /// <exception cref="NbdListenException">
    /// The path holds a regular file or other non-socket, a live server answers on it, or bind/listen failed.
    /// </exception>
    public void ListenUnix(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        UnixSocketPath.RemoveStale(path);
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Bind(new UnixDomainSocketEndPoint(path));
            socket.Listen(128);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            // bind(2) on a Unix path reports a missing directory as ENOENT, which .NET calls AddressNotAvailable.
            var reason = ex.SocketErrorCode == SocketError.AddressNotAvailable ? $"directory {Path.GetDirectoryName(path)} does not exist" : SocketErrors.Describe(ex);
            throw new NbdListenException(path, $"socket {path}: cannot listen: {reason}", ex);
        }

        lock (_lock)
        {
            _unixPaths.Add(path);
        }

        StartAccepting(socket, $"unix:{path}");
    }

    /// <summary>Starts accepting TCP connections; port 0 picks a free port. Returns the bound endpoint.</summary>
    /// <exception cref="NbdListenException">The address is in use, not local, or not permitted.</exception>
    public IPEndPoint ListenTcp(IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(endPoint);
            socket.Listen(128);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new NbdListenException(endPoint.ToString(), $"{endPoint}: cannot listen: {SocketErrors.Describe(ex)}", ex);
        }

        var bound = (IPEndPoint)socket.LocalEndPoint!;
        StartAccepting(socket, $"tcp:{bound}");
        return bound;
    }

    /// <summary>
    /// Graceful shutdown: stop accepting, stop reading new requests, let requests in flight finish and their
    /// replies go out, then close. Connections still busy after <paramref name="drainTimeout"/> are aborted.
    /// Idempotent: later calls wait for the first.
    /// </summary>
    public Task StopAsync(TimeSpan drainTimeout, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            _stopTask ??= StopCoreAsync(drainTimeout);
        }

        return _stopTask.WaitAsync(cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        _stopping.Dispose();
    }

    internal NbdExport? FindExport(string name)
    {
        lock (_lock)
        {
            if (_exports.TryGetValue(name, out var export))
            {
                return export;
            }

            return name.Length == 0 ? _defaultExport : null;
        }
    }

    internal void ListExports(List<NbdExport> into)
    {
        lock (_lock)
        {
            into.AddRange(_exportOrder);
        }
    }

    internal void OnConnectionClosed(NbdConnection connection)
    {
        lock (_lock)
        {
            _connections.Remove(connection);
        }
    }

    private void StartAccepting(Socket listener, string description)
    {
        lock (_lock)
        {
            if (_stopping.IsCancellationRequested)
            {
                listener.Dispose();
                throw new ObjectDisposedException(nameof(NbdServer), "the server is stopping");
            }

            _listeners.Add(listener);
            _acceptLoops.Add(Task.Run(() => AcceptLoopAsync(listener, description)));
        }

        ServerLog.Listening(_logger, description);
    }

    private async Task AcceptLoopAsync(Socket listener, string description)
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (ObjectDisposedException)
            {
                break;
            }
            catch (SocketException ex)
            {
                // EMFILE and friends: back off instead of spinning, and keep serving the connections we have.
                ServerLog.AcceptFailed(_logger, ex, description);
                await Task.Delay(100).ConfigureAwait(false);
                continue;
            }

            if (client.AddressFamily != AddressFamily.Unix)
            {
                // Replies are small headers followed by data: Nagle would hold a header back for a whole RTT.
                client.NoDelay = true;
            }

            NbdConnection? connection = null;
            lock (_lock)
            {
                if (_connections.Count < Options.MaxConnections && !_stopping.IsCancellationRequested)
                {
                    connection = new NbdConnection(this, client, Interlocked.Increment(ref _connectionIds), _logger);
                    _connections.Add(connection);
                }
            }

            if (connection is null)
            {
                ServerLog.TooManyConnections(_logger, description, Options.MaxConnections);
                client.Dispose();
                continue;
            }

            connection.Start();
        }
    }

    private async Task StopCoreAsync(TimeSpan drainTimeout)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        List<NbdConnection> connections;
        lock (_lock)
        {
            foreach (var listener in _listeners)
            {
                listener.Dispose();
            }

            foreach (var path in _unixPaths)
            {
                try
                {
                    File.Delete(path);
                }
                catch (IOException)
                {
                    // The socket file is only a name; failing to remove it loses nothing.
                }
            }

            connections = [.. _connections];
        }

        await Task.WhenAll(_acceptLoops).ConfigureAwait(false);
        foreach (var connection in connections)
        {
            connection.BeginShutdown();
        }

        var drained = Task.WhenAll(connections.Select(c => c.Completion));
        if (await Task.WhenAny(drained, Task.Delay(drainTimeout)).ConfigureAwait(false) != drained)
        {
            ServerLog.AbortingAtDeadline(_logger, drainTimeout);
            foreach (var connection in connections)
            {
                connection.Abort("shutdown deadline passed");
            }

            // Aborting wakes every socket call and cancels device calls; a device that ignores cancellation must not
            // hold the whole server hostage, so give up on it after a grace period.
            if (await Task.WhenAny(drained, Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false) != drained)
            {
                ServerLog.AbortIncomplete(_logger);
            }
        }
    }
}
