using Engine.Nbd.Protocol;

namespace Engine.Nbd.Client;

/// <summary>
/// One NBD connection in transmission. Callers send requests under a lock with a blocking send; a dedicated reader
/// thread parses replies and lands READ data straight in the caller's memory (OFFSET_HOLE chunks are zero-filled),
/// so a read costs one copy, kernel to destination. Requests complete out of order, by cookie.
/// </summary>
internal sealed partial class NbdClientConnection : IDisposable
{
    private const uint MaxStatusPayload = 64u << 20;

    /// <summary>
    /// Read-ahead for reply headers: enough for the largest header plus the offset of an OFFSET_DATA chunk, so that a
    /// READ's data is received straight into the caller's buffer rather than copied out of ours.
    /// </summary>
    private const int HeaderReadAhead = NbdWire.ExtendedReplyHeaderLength + 8;

    private readonly IClientChannel _channel;
    private readonly PendingRequest?[] _inFlight;
    private readonly Stack<PendingRequest> _free;
    private readonly SemaphoreSlim _slots;
    private readonly Lock _sendLock = new();
    private readonly Lock _stateLock = new();
    private readonly Thread _reader;
    private readonly string _where;
    private readonly TimeSpan? _requestTimeout;
    private readonly Timer? _watchdog;
    private byte[] _scratch = new byte[4096];
    private ulong _generation;
    private Exception? _failure;
    private bool _disposeOnExit;

    private NbdClientConnection(IClientChannel channel, NbdExportInfo export, int requestsInFlight, string where, TimeSpan? requestTimeout, bool inlineCompletions)
    {
        _channel = channel;
        Export = export;
        _where = where;
        _requestTimeout = requestTimeout;
        _inFlight = new PendingRequest?[requestsInFlight];
        _free = new Stack<PendingRequest>(requestsInFlight);
        for (var i = requestsInFlight - 1; i >= 0; i--)
        {
            _free.Push(new PendingRequest(i, inlineCompletions));
        }

        _slots = new SemaphoreSlim(requestsInFlight, requestsInFlight);
        _reader = new Thread(ReadReplies) { IsBackground = true, Name = $"nbd-client {where}" };
        _reader.Start();
        _watchdog = StartWatchdog(requestTimeout);
    }

    public NbdExportInfo Export { get; }

    /// <summary>Requests that could be sent now without waiting for a reply (a racy snapshot, good for choosing a connection).</summary>
    public int FreeSlots => _slots.CurrentCount;

    /// <summary>Set once the connection broke; every later request fails with it.</summary>
    public Exception? Failure => Volatile.Read(ref _failure);

    /// <summary>Connects and negotiates one connection.</summary>
    /// <exception cref="NbdConnectException">The server could not be reached, or hung up before its greeting.</exception>
    public static async Task<NbdClientConnection> ConnectAsync(NbdUri uri, NbdClientOptions options, CancellationToken cancellationToken)
    {
        var (export, channel) = await NbdConnector.NegotiateAsync(uri, options, handshake => handshake.Negotiate(uri.ExportName, options), cancellationToken).ConfigureAwait(false);
        channel.SetReceiveTimeout(TimeSpan.Zero);
        if (channel is TlsClientChannel tls)
        {
            export.Tls = NbdTlsInfo.Of(tls.Session);
        }

        return new NbdClientConnection(channel, export, Math.Max(1, options.RequestsInFlight), uri.ToString(), options.RequestTimeout, options.InlineCompletions);
    }

    public void Dispose()
    {
        _watchdog?.Dispose();
        Break(new NbdConnectionException($"{_where}: connection closed by the client"));
        _channel.ShutdownBoth();
        if (Thread.CurrentThread == _reader)
        {
            // With inline completions the last awaiter can dispose from the reader thread itself: it cannot wait for
            // itself, so the reader loop, which ends on the shut-down socket as soon as this returns, cleans up.
            _disposeOnExit = true;
            return;
        }

        _reader.Join();

        // A caller may still be inside Send on another thread; closing under the send lock keeps it off a reused descriptor.
        lock (_sendLock)
        {
            _channel.Dispose();
        }

        _slots.Dispose();
    }

    private void ThrowIfFailed()
    {
        if (Failure is { } failure)
        {
            throw new NbdConnectionException(failure.Message, failure);
        }
    }

    /// <summary>Marks the connection broken and fails every request in flight at once.</summary>
    private void Break(Exception failure)
    {
        if (Interlocked.CompareExchange(ref _failure, failure, null) is not null)
        {
            failure = _failure!;
        }

        _channel.ShutdownBoth();
        lock (_stateLock)
        {
            for (var i = 0; i < _inFlight.Length; i++)
            {
                if (_inFlight[i] is { } request)
                {
                    _inFlight[i] = null;
                    request.Error ??= failure;
                    request.Complete();
                }
            }
        }
    }

    private void FailOne(PendingRequest request, Exception failure)
    {
        lock (_stateLock)
        {
            if (_inFlight[request.Slot] != request)
            {
                return;
            }

            _inFlight[request.Slot] = null;
        }

        request.Error ??= failure;
        request.Complete();
    }
}
