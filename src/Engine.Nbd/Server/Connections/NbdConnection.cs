using System.Net.Sockets;
using Engine.Nbd.Server.Handshake;
using Engine.Nbd.Server.Transmission;
using Engine.Nbd.Transport;
using Microsoft.Extensions.Logging;

namespace Engine.Nbd.Server.Connections;

/// <summary>
/// One client connection. Its reader thread runs the handshake and then the transmission phase; in transmission a
/// writer thread sends the replies. Blocking threads per connection cost a little memory but spend the fewest cycles
/// per byte, and isolate clients: a stalled client stalls only its own threads.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The reader thread disposes the channel when it ends; the abort source has no timer and may be cancelled after that, so it is never disposed.")]
internal sealed class NbdConnection
{
    private readonly NbdServer _server;
    private readonly Socket _socket;
    private readonly ILogger _logger;
    private readonly string _peer;
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _abort = new();
    private readonly Lock _lock = new();
    private SocketChannel? _channel;
    private ConnectionTransport? _transport;
    private bool _inTransmission;
    private bool _shuttingDown;
    private int _closeReason;
    private string? _closeDetail;

    public NbdConnection(NbdServer server, Socket socket, long id, ILogger logger)
    {
        _server = server;
        _socket = socket;
        _logger = logger;
        _peer = $"conn#{id}";
    }

    /// <summary>Completes when the connection is closed and its threads are done.</summary>
    public Task Completion => _completion.Task;

    /// <summary>Why the connection closed (the first reason recorded wins).</summary>
    public ConnectionCloseReason CloseReason => (ConnectionCloseReason)Volatile.Read(ref _closeReason);

    public void Start()
    {
        var thread = new Thread(Run) { IsBackground = true, Name = $"nbd-reader {_peer}" };
        thread.Start();
    }

    /// <summary>Stops reading new requests; those in flight still get replies. Handshakes in progress end now.</summary>
    public void BeginShutdown()
    {
        lock (_lock)
        {
            _shuttingDown = true;
            if (_channel is null)
            {
                return;
            }

            if (_inTransmission)
            {
                _channel.ShutdownReceive();
            }
            else
            {
                _channel.ShutdownBoth();
            }
        }
    }

    /// <summary>Drops the connection now: blocked sends and receives fail, device calls are cancelled.</summary>
    public void Abort(string reason)
    {
        RecordClose(ConnectionCloseReason.Aborted, reason);
        _abort.Cancel();
        lock (_lock)
        {
            _channel?.ShutdownBoth();
        }
    }

    private void Run()
    {
        try
        {
            SocketChannel channel;
            lock (_lock)
            {
                channel = _channel = new SocketChannel(_socket);
                if (_shuttingDown)
                {
                    throw new ConnectionClosedException("server is shutting down", reason: ConnectionCloseReason.ServerShutdown);
                }
            }

            NegotiatedSession? session;
            ConnectionTransport transport;
            using (var clock = new HandshakeClock(_server.Options.HandshakeTimeout, OnHandshakeExpired))
            {
                var handshake = new HandshakeSession(_server, channel, clock, _logger, _peer, PeerUid(), _abort.Token);
                try
                {
                    session = handshake.Run();
                }
                finally
                {
                    _transport = transport = handshake.Transport;
                }
            }

            if (session is null)
            {
                RecordClose(ConnectionCloseReason.ClientAborted, "client aborted the handshake");
                return;
            }

            lock (_lock)
            {
                _inTransmission = true;
                if (_shuttingDown)
                {
                    channel.ShutdownReceive();
                }
            }

            ServerLog.Serving(_logger, _peer, session.Export.Name, session.StructuredReplies, session.ExtendedHeaders, transport.Security);
            new TransmissionSession(session, transport, _server.Options, _logger, _peer, _abort.Token).Run();
            RecordClose(ConnectionCloseReason.ClientDisconnected, "client disconnected");
        }
        catch (ConnectionClosedException ex)
        {
            RecordClose(ex.Reason, ex.Message);
        }
        catch (Exception ex)
        {
            RecordClose(ConnectionCloseReason.InternalError, ex.Message);
            ServerLog.ConnectionFailed(_logger, ex, _peer);
        }
        finally
        {
            lock (_lock)
            {
                // The TLS transport owns the plain channel under it; disposing either is idempotent.
                _transport?.Dispose();
                _channel?.Dispose();
                if (_channel is null)
                {
                    _socket.Dispose();
                }
            }

            var reason = CloseReason;
            if (reason is ConnectionCloseReason.TlsFailed or ConnectionCloseReason.TlsRequired or ConnectionCloseReason.AccessDenied)
            {
                ServerLog.ConnectionRefused(_logger, _peer, reason, _closeDetail);
            }
            else
            {
                ServerLog.ConnectionClosed(_logger, _peer, reason, _closeDetail);
            }

            _server.OnConnectionClosed(this);
            _completion.TrySetResult();
        }
    }

    /// <summary>The handshake clock ran out: wake the reader wherever it is blocked, in a receive or a send.</summary>
    private void OnHandshakeExpired()
    {
        RecordClose(ConnectionCloseReason.HandshakeTimedOut, $"handshake not finished within {_server.Options.HandshakeTimeout.TotalSeconds:0.###} s");
        ServerLog.HandshakeTimedOut(_logger, _peer, _server.Options.HandshakeTimeout);
        lock (_lock)
        {
            _channel?.ShutdownBoth();
        }
    }

    /// <summary>Records why the connection closes; only the first call counts, later ones are consequences.</summary>
    private void RecordClose(ConnectionCloseReason reason, string detail)
    {
        if (Interlocked.CompareExchange(ref _closeReason, (int)reason, (int)ConnectionCloseReason.None) == (int)ConnectionCloseReason.None)
        {
            Volatile.Write(ref _closeDetail, detail);
        }
    }

    /// <summary>The uid of the process at the other end of a Unix socket (SO_PEERCRED); null on TCP.</summary>
    private uint? PeerUid() =>
        _socket.AddressFamily == AddressFamily.Unix && Blocks.Native.LibC.GetPeerCredentials(_socket.SafeHandle, out var credentials) == 0
            ? credentials.Uid
            : null;
}
