using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using Engine.Nbd.Protocol;
using Engine.Nbd.Transport;

namespace Engine.Nbd.Client;

/// <summary>Sending: a request goes out whole under the send lock, from whichever thread asks.</summary>
internal sealed partial class NbdClientConnection
{
    /// <summary>Sends one request and waits for its reply; a WRITE's payload follows its header.</summary>
    /// <remarks>Pooled state machine: a request that waits for its reply allocates nothing.</remarks>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask SendAsync(NbdRequest request, CancellationToken cancellationToken)
    {
        ThrowIfFailed();
        await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        PendingRequest pending;
        lock (_stateLock)
        {
            pending = _free.Pop();
            pending.Prepare(++_generation & 0xFFFF_FFFF_FFFF, request);
            _inFlight[pending.Slot] = pending;
        }

        try
        {
            if (Failure is { } failure)
            {
                // The reader may already have failed everything; make sure this request is not left behind.
                FailOne(pending, failure);
            }
            else
            {
                Send(pending, request.Flags, request.Payload.Span);
            }

            await pending.Task.ConfigureAwait(false);
        }
        finally
        {
            lock (_stateLock)
            {
                _free.Push(pending);
            }

            _slots.Release();
        }
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
}
