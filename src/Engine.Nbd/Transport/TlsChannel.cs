using System.Buffers;
using System.IO.Pipelines;
using Engine.Blocks.Native;
using Engine.Nbd.Transport.Tls;
using Pipelines.Sockets.Unofficial;

namespace Engine.Nbd.Transport;

/// <summary>
/// A connection's byte stream after NBD_OPT_STARTTLS: the decrypted side of a <see cref="TlsSession"/>, turned into
/// a duplex pipe by <see cref="StreamConnection.GetDuplex(Stream, PipeOptions, string)"/>. The connection's blocking
/// reader and writer threads use the pipe's synchronous fast paths (<c>TryRead</c>, a flush that completes at once)
/// and block only when the pipe is empty or full; the pipe's pumps run the SslStream asynchronously. Sends gather into
/// the pipe and are flushed once per reply, so the pump hands SslStream large writes that become full 16 KiB records.
/// File ranges cannot be sent (the data must pass through here to be encrypted): reads are answered from pooled
/// buffers instead. Shutdown goes to the socket underneath, which ends the TLS stream as it ends a plain one.
/// </summary>
internal sealed class TlsChannel : ConnectionTransport
{
    /// <summary>Pipe segments: one SslStream write per segment, so they are as large as a batch of records.</summary>
    private const int SegmentSize = 256 << 10;

    /// <summary>How long closing waits for replies still in the send pipe to reach the socket.</summary>
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(2);

    private static readonly PipeOptions SendOptions = new(pauseWriterThreshold: 4L << 20, resumeWriterThreshold: 2L << 20, minimumSegmentSize: SegmentSize, useSynchronizationContext: false);
    private static readonly PipeOptions ReceiveOptions = new(pauseWriterThreshold: 4L << 20, resumeWriterThreshold: 2L << 20, minimumSegmentSize: SegmentSize, useSynchronizationContext: false);

    private readonly SocketChannel _socket;
    private readonly TlsSession _session;
    private readonly IDuplexPipe _pipe;
    private readonly Lock _closeLock = new();
    private long _written;
    private bool _released;

    public TlsChannel(SocketChannel socket, TlsSession session, string name)
    {
        _socket = socket;
        _session = session;
        _pipe = StreamConnection.GetDuplex(session.Stream, SendOptions, ReceiveOptions, name);
    }

    /// <summary>Who the TLS handshake proved the peer to be.</summary>
    public TlsPeer Peer => _session.Peer;

    public override bool CanSendFileRanges => false;

    public override string Security => $"{_session.Protocol}/{_session.Authentication}";

    /// <inheritdoc/>
    public override void Send(ReadOnlySpan<byte> data, bool more = false)
    {
        try
        {
            _pipe.Output.Write(data);
            _written += data.Length;
            if (!more)
            {
                Flush();
            }
        }
        catch (InvalidOperationException ex)
        {
            throw new ConnectionClosedException($"TLS session closed: {ex.Message}");
        }
    }

    /// <inheritdoc/>
    public override unsafe void Send(Span<LibC.IoVec> vectors, bool more = false)
    {
        for (var i = 0; i < vectors.Length; i++)
        {
            var vector = vectors[i];
            Send(new ReadOnlySpan<byte>(vector.Base, checked((int)vector.Length)), more: true);
        }

        if (!more)
        {
            Flush();
        }
    }

    /// <inheritdoc/>
    public override void ShutdownReceive()
    {
        _socket.ShutdownReceive();
        _pipe.Input.CancelPendingRead();
    }

    /// <inheritdoc/>
    public override void ShutdownBoth()
    {
        _socket.ShutdownBoth();
        _pipe.Input.CancelPendingRead();
        _pipe.Output.CancelPendingFlush();
    }

    /// <inheritdoc/>
    protected override int ReceiveSome(Span<byte> destination)
    {
        var input = _pipe.Input;
        while (true)
        {
            ReadResult result;
            try
            {
                if (!input.TryRead(out result))
                {
                    var pending = input.ReadAsync();
                    result = pending.IsCompleted ? pending.Result : pending.AsTask().GetAwaiter().GetResult();
                }
            }
            catch (Exception ex) when (ex is IOException or InvalidOperationException or ObjectDisposedException)
            {
                throw new ConnectionClosedException($"TLS session failed: {ex.Message}");
            }

            var buffer = result.Buffer;
            if (buffer.IsEmpty)
            {
                input.AdvanceTo(buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    return 0;
                }

                continue;
            }

            var n = (int)Math.Min(buffer.Length, destination.Length);
            buffer.Slice(0, n).CopyTo(destination);
            input.AdvanceTo(buffer.GetPosition(n));
            return n;
        }
    }

    /// <inheritdoc/>
    protected override bool Release()
    {
        lock (_closeLock)
        {
            if (_released)
            {
                return false;
            }

            _released = true;
        }

        // Replies still in the pipe (the ACK of an ABORT, the last error) go out before the session closes.
        _pipe.Output.Complete();
        if (_pipe is IMeasuredDuplexPipe measured)
        {
            var deadline = Environment.TickCount64 + (long)DrainTimeout.TotalMilliseconds;
            while (measured.TotalBytesReceived < _written && Environment.TickCount64 < deadline)
            {
                Thread.Sleep(1);
            }
        }

        _pipe.Input.Complete();
        _socket.ShutdownBoth();
        _session.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _socket.Dispose();
        return true;
    }

    private void Flush()
    {
        var pending = _pipe.Output.FlushAsync();
        var result = pending.IsCompleted ? pending.Result : pending.AsTask().GetAwaiter().GetResult();
        if (result.IsCompleted || result.IsCanceled)
        {
            throw new ConnectionClosedException("peer stopped reading");
        }
    }
}
