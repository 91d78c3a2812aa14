using System.Buffers.Binary;
using System.Text;
using Engine.Blocks;
using Engine.Nbd.Protocol;
using Engine.Nbd.Transport;

namespace Engine.Nbd.Client;

/// <summary>
/// One NBD connection in transmission. Callers send requests under a lock with a blocking send; a dedicated reader
/// thread parses replies and lands READ data straight in the caller's memory (OFFSET_HOLE chunks are zero-filled),
/// so a read costs one copy, kernel to destination. Requests complete out of order, by cookie.
/// </summary>
internal sealed class NbdClientConnection : IDisposable
{
    private const uint MaxStatusPayload = 64u << 20;

    /// <summary>
    /// Read-ahead for reply headers: enough for the largest header plus the offset of an OFFSET_DATA chunk, so that a
    /// READ's data is received straight into the caller's buffer rather than copied out of ours.
    /// </summary>
    private const int HeaderReadAhead = NbdWire.ExtendedReplyHeaderLength + 8;

    private readonly SocketChannel _channel;
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

    private NbdClientConnection(SocketChannel channel, NbdExportInfo export, int requestsInFlight, string where, TimeSpan? requestTimeout, bool inlineCompletions)
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
        if (requestTimeout is { } timeout)
        {
            var period = TimeSpan.FromMilliseconds(Math.Clamp(timeout.TotalMilliseconds / 4, 10, 1000));
            _watchdog = new Timer(_ => CheckTimeouts(), null, period, period);
        }
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
        var channel = await NbdConnector.OpenAsync(uri, options, cancellationToken).ConfigureAwait(false);
        try
        {
            var export = await Task.Run(() => NbdConnector.StartHandshake(channel, uri).Negotiate(uri.ExportName, options), cancellationToken).ConfigureAwait(false);
            channel.SetReceiveTimeout(TimeSpan.Zero);
            return new NbdClientConnection(channel, export, Math.Max(1, options.RequestsInFlight), uri.ToString(), options.RequestTimeout, options.InlineCompletions);
        }
        catch (ConnectionClosedException ex)
        {
            channel.Dispose();
            throw new NbdConnectionException($"{uri}: handshake failed: {ex.Message}", ex);
        }
        catch
        {
            channel.Dispose();
            throw;
        }
    }

    /// <summary>Sends one request and waits for its reply. <paramref name="payload"/> is sent for WRITE.</summary>
    public async ValueTask SendAsync(NbdCommand command, CommandFlags flags, long offset, long length, ReadOnlyMemory<byte> payload, Memory<byte> destination, uint contextId, ExtentList? extents, CancellationToken cancellationToken)
    {
        ThrowIfFailed();
        await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        PendingRequest request;
        lock (_stateLock)
        {
            request = _free.Pop();
            request.Prepare(++_generation & 0xFFFF_FFFF_FFFF, command, offset, length, destination, contextId, extents);
            _inFlight[request.Slot] = request;
        }

        try
        {
            if (Failure is { } failure)
            {
                // The reader may already have failed everything; make sure this request is not left behind.
                FailOne(request, failure);
            }
            else
            {
                Send(request, flags, payload.Span);
            }

            await request.Task.ConfigureAwait(false);
        }
        finally
        {
            lock (_stateLock)
            {
                _free.Push(request);
            }

            _slots.Release();
        }
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

    /// <summary>Sends NBD_CMD_DISC after the requests in flight are answered, then closes.</summary>
    public void Disconnect()
    {
        if (Failure is null)
        {
            try
            {
                Span<byte> header = stackalloc byte[NbdWire.ExtendedRequestHeaderLength];
                var length = WriteHeader(header, NbdCommand.Disconnect, CommandFlags.None, 0, 0, 0);
                lock (_sendLock)
                {
                    _channel.Send(header[..length]);
                }
            }
            catch (ConnectionClosedException)
            {
                // Already gone: nothing to say goodbye to.
            }
        }

        Dispose();
    }

    private void Send(PendingRequest request, CommandFlags flags, ReadOnlySpan<byte> payload)
    {
        Span<byte> header = stackalloc byte[NbdWire.ExtendedRequestHeaderLength];
        if (Export.ExtendedHeaders && request.Command == NbdCommand.Write)
        {
            flags |= CommandFlags.PayloadLength;
        }

        var headerLength = WriteHeader(header, request.Command, flags, request.Cookie, request.Offset, request.Command == NbdCommand.Write ? payload.Length : request.Length);
        try
        {
            lock (_sendLock)
            {
                if (Failure is { } failure)
                {
                    throw new ConnectionClosedException(failure.Message);
                }

                _channel.Send(header[..headerLength], more: payload.Length > 0);
                if (payload.Length > 0)
                {
                    _channel.Send(payload);
                }
            }
        }
        catch (ConnectionClosedException ex)
        {
            Break(new NbdConnectionException($"{_where}: {ex.Message}", ex));
        }
    }

    private int WriteHeader(Span<byte> header, NbdCommand command, CommandFlags flags, ulong cookie, long offset, long length)
    {
        BinaryPrimitives.WriteUInt16BigEndian(header[4..], (ushort)flags);
        BinaryPrimitives.WriteUInt16BigEndian(header[6..], (ushort)command);
        BinaryPrimitives.WriteUInt64BigEndian(header[8..], cookie);
        BinaryPrimitives.WriteUInt64BigEndian(header[16..], (ulong)offset);
        if (Export.ExtendedHeaders)
        {
            BinaryPrimitives.WriteUInt32BigEndian(header, NbdMagic.ExtendedRequest);
            BinaryPrimitives.WriteUInt64BigEndian(header[24..], (ulong)length);
            return NbdWire.ExtendedRequestHeaderLength;
        }

        BinaryPrimitives.WriteUInt32BigEndian(header, NbdMagic.Request);
        BinaryPrimitives.WriteUInt32BigEndian(header[24..], checked((uint)length));
        return NbdWire.RequestHeaderLength;
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

    private void CheckTimeouts()
    {
        var limit = (long)_requestTimeout!.Value.TotalMilliseconds;
        var now = Environment.TickCount64;
        lock (_stateLock)
        {
            foreach (var request in _inFlight)
            {
                if (request is not null && now - request.StartedAt > limit)
                {
                    // A late reply could still land in a buffer the caller has reused: the only safe move is to drop the connection.
                    ThreadPool.UnsafeQueueUserWorkItem(_ => Break(new NbdConnectionException($"{_where}: {request.Command} at {request.Offset} got no reply within {_requestTimeout}")), null);
                    return;
                }
            }
        }
    }

    private void ReadReplies()
    {
        try
        {
            while (true)
            {
                if (!_channel.TryFill(4, HeaderReadAhead))
                {
                    throw new NbdConnectionException($"{_where}: server closed the connection");
                }

                var magic = BinaryPrimitives.ReadUInt32BigEndian(_channel.Peek(4));
                switch (magic)
                {
                    case NbdMagic.SimpleReply:
                        ReadSimpleReply();
                        break;
                    case NbdMagic.StructuredReply when Export.StructuredReplies && !Export.ExtendedHeaders:
                        ReadChunk(extended: false);
                        break;
                    case NbdMagic.ExtendedReply when Export.ExtendedHeaders:
                        ReadChunk(extended: true);
                        break;
                    default:
                        throw Protocol($"unexpected reply magic 0x{magic:x8}");
                }
            }
        }
        catch (ConnectionClosedException ex)
        {
            Break(new NbdConnectionException($"{_where}: {ex.Message}", ex));
        }
        catch (NbdException ex)
        {
            Break(ex);
        }
        catch (Exception ex)
        {
            Break(new NbdConnectionException($"{_where}: reply handling failed: {ex.Message}", ex));
        }
        finally
        {
            if (_disposeOnExit)
            {
                _channel.Dispose();
                _slots.Dispose();
            }
        }
    }

    private void ReadSimpleReply()
    {
        if (Export.ExtendedHeaders)
        {
            throw Protocol("simple reply under extended headers");
        }

        _channel.Fill(NbdWire.SimpleReplyHeaderLength, HeaderReadAhead);
        var header = _channel.Peek(NbdWire.SimpleReplyHeaderLength);
        var error = (NbdError)BinaryPrimitives.ReadUInt32BigEndian(header[4..]);
        var cookie = BinaryPrimitives.ReadUInt64BigEndian(header[8..]);
        _channel.Consume(NbdWire.SimpleReplyHeaderLength);
        var request = Lookup(cookie);
        if (error != NbdError.None)
        {
            request.Error = ServerError(request, error, null);
        }
        else if (request.Command == NbdCommand.Read)
        {
            if (Export.StructuredReplies)
            {
                throw Protocol("simple reply to a READ after structured replies were negotiated");
            }

            _channel.ReadExact(request.Destination.Span);
        }

        Finish(request);
    }

    private void ReadChunk(bool extended)
    {
        var headerLength = extended ? NbdWire.ExtendedReplyHeaderLength : NbdWire.StructuredReplyHeaderLength;
        _channel.Fill(headerLength, HeaderReadAhead);
        var header = _channel.Peek(headerLength);
        var flags = (ReplyFlags)BinaryPrimitives.ReadUInt16BigEndian(header[4..]);
        var type = (NbdReplyType)BinaryPrimitives.ReadUInt16BigEndian(header[6..]);
        var cookie = BinaryPrimitives.ReadUInt64BigEndian(header[8..]);
        var length = extended ? BinaryPrimitives.ReadUInt64BigEndian(header[24..]) : BinaryPrimitives.ReadUInt32BigEndian(header[16..]);
        _channel.Consume(headerLength);
        var request = Lookup(cookie);
        switch (type)
        {
            case NbdReplyType.None:
                if (length != 0 || !flags.HasFlag(ReplyFlags.Done))
                {
                    throw Protocol("NBD_REPLY_TYPE_NONE with a payload or without DONE");
                }

                break;
            case NbdReplyType.OffsetData when request.Command == NbdCommand.Read:
                ReadData(request, length);
                break;
            case NbdReplyType.OffsetHole when request.Command == NbdCommand.Read:
                ReadHole(request, length);
                break;
            case NbdReplyType.BlockStatus when request.Command == NbdCommand.BlockStatus:
            case NbdReplyType.BlockStatusExtended when request.Command == NbdCommand.BlockStatus && extended:
                ReadStatus(request, length, type == NbdReplyType.BlockStatusExtended);
                break;
            default:
                if (((ushort)type & 0x8000) == 0)
                {
                    throw Protocol($"unexpected chunk type {type} for {request.Command}");
                }

                ReadError(request, length);
                break;
        }

        if (flags.HasFlag(ReplyFlags.Done))
        {
            Finish(request);
        }
    }

    private void ReadData(PendingRequest request, ulong length)
    {
        if (length <= 8 || length - 8 > (ulong)request.Length)
        {
            throw Protocol($"OFFSET_DATA chunk of {length} bytes for a {request.Length}-byte read");
        }

        _channel.Fill(8, 0);
        var offset = BinaryPrimitives.ReadInt64BigEndian(_channel.Peek(8));
        _channel.Consume(8);
        var count = (long)length - 8;
        if (offset < request.Offset || offset + count > request.Offset + request.Length)
        {
            throw Protocol($"OFFSET_DATA at {offset}+{count} outside the read {request.Offset}+{request.Length}");
        }

        _channel.ReadExact(request.Destination.Span.Slice((int)(offset - request.Offset), (int)count));
    }

    private void ReadHole(PendingRequest request, ulong length)
    {
        if (length != 12)
        {
            throw Protocol($"OFFSET_HOLE chunk of {length} bytes");
        }

        _channel.Fill(12);
        var offset = BinaryPrimitives.ReadInt64BigEndian(_channel.Peek(12));
        var size = BinaryPrimitives.ReadUInt32BigEndian(_channel.Peek(12)[8..]);
        _channel.Consume(12);
        if (size == 0 || offset < request.Offset || offset + size > request.Offset + request.Length)
        {
            throw Protocol($"OFFSET_HOLE at {offset}+{size} outside the read {request.Offset}+{request.Length}");
        }

        request.Destination.Span.Slice((int)(offset - request.Offset), (int)size).Clear();
    }

    private void ReadStatus(PendingRequest request, ulong length, bool wide)
    {
        var headerSize = wide ? 8u : 4u;
        var descriptorSize = wide ? 16u : 8u;
        if (length < headerSize + descriptorSize || (length - headerSize) % descriptorSize != 0 || length > MaxStatusPayload)
        {
            throw Protocol($"block status chunk of {length} bytes");
        }

        var payload = ReadPayload((int)length);
        var contextId = BinaryPrimitives.ReadUInt32BigEndian(payload);
        if (contextId != request.ContextId || request.Extents is null)
        {
            return;
        }

        var position = request.Offset;
        for (var at = (int)headerSize; at < payload.Length; at += (int)descriptorSize)
        {
            long extentLength;
            uint status;
            if (wide)
            {
                extentLength = (long)BinaryPrimitives.ReadUInt64BigEndian(payload[at..]);
                status = BinaryPrimitives.ReadUInt32BigEndian(payload[(at + 12)..]);
            }
            else
            {
                extentLength = BinaryPrimitives.ReadUInt32BigEndian(payload[at..]);
                status = BinaryPrimitives.ReadUInt32BigEndian(payload[(at + 4)..]);
            }

            if (extentLength <= 0 || extentLength > Export.Size - position)
            {
                // Servers may round the last extent up past the request, but never past the export.
                extentLength = Math.Min(extentLength, Export.Size - position);
                if (extentLength <= 0)
                {
                    throw Protocol($"block status extent of length {extentLength} at {position}");
                }
            }

            request.Extents.Add(position, extentLength, (ExtentFlags)status);
            position += extentLength;
        }
    }

    private void ReadError(PendingRequest request, ulong length)
    {
        if (length < 6 || length > 65536)
        {
            throw Protocol($"error chunk of {length} bytes");
        }

        var payload = ReadPayload((int)length);
        var error = (NbdError)BinaryPrimitives.ReadUInt32BigEndian(payload);
        var messageLength = Math.Min(BinaryPrimitives.ReadUInt16BigEndian(payload[4..]), payload.Length - 6);
        var message = messageLength > 0 ? Encoding.UTF8.GetString(payload.Slice(6, messageLength)) : null;
        request.Error ??= ServerError(request, error == NbdError.None ? NbdError.Invalid : error, message);
    }

    private ReadOnlySpan<byte> ReadPayload(int length)
    {
        if (_scratch.Length < length)
        {
            _scratch = new byte[Math.Max(length, _scratch.Length * 2)];
        }

        _channel.ReadExact(_scratch.AsSpan(0, length));
        return _scratch.AsSpan(0, length);
    }

    private PendingRequest Lookup(ulong cookie)
    {
        var slot = (int)(cookie & 0xFFFF);
        lock (_stateLock)
        {
            if (slot < _inFlight.Length && _inFlight[slot] is { } request && request.Cookie == cookie)
            {
                return request;
            }
        }

        throw Protocol($"reply for unknown cookie 0x{cookie:x}");
    }

    private void Finish(PendingRequest request)
    {
        lock (_stateLock)
        {
            _inFlight[request.Slot] = null;
        }

        request.Complete();
    }

    private NbdServerErrorException ServerError(PendingRequest request, NbdError error, string? message) =>
        new(error, $"{_where}: {request.Command} at {request.Offset}+{request.Length} failed: {ErrorName(error)}{(message is null ? string.Empty : $" ({message})")}");

    private static string ErrorName(NbdError error) => error switch
    {
        NbdError.Perm => "EPERM",
        NbdError.Io => "EIO",
        NbdError.NoMemory => "ENOMEM",
        NbdError.Invalid => "EINVAL",
        NbdError.NoSpace => "ENOSPC",
        NbdError.Overflow => "EOVERFLOW",
        NbdError.NotSupported => "ENOTSUP",
        NbdError.Shutdown => "ESHUTDOWN",
        _ => $"error {(uint)error}",
    };

    private NbdConnectionException Protocol(string message) => new($"{_where}: protocol violation: {message}");
}
