using System.Net.Sockets;
using Engine.Blocks.Buffers;
using Engine.Blocks.Native;

namespace Engine.Nbd.Transport;

/// <summary>
/// Owns a connected socket and its receive buffer. Bytes are parsed in place from the buffer; bulk payloads are
/// received straight into their destination, so a WRITE costs one copy (kernel to the destination buffer). Receiving
/// belongs to the connection's reader thread, sending to its writer thread (or the reader during the handshake).
/// </summary>
internal sealed class SocketChannel : IDisposable
{
    private const int InputCapacity = 64 << 10;

    private readonly Socket _socket;
    private readonly NativeBuffer _input;
    private readonly int _fd;
    private int _start;
    private int _end;
    private readonly bool _handleReferenced;
    private readonly Lock _closeLock = new();
    private int _disposed;

    public SocketChannel(Socket socket)
    {
        _socket = socket;
        var handle = socket.SafeHandle;
        handle.DangerousAddRef(ref _handleReferenced);
        _fd = (int)handle.DangerousGetHandle();
        var rc = LibC.MakeBlocking(handle);
        if (rc != 0)
        {
            Dispose();
            throw new ConnectionClosedException($"cannot make socket blocking: errno {-rc}");
        }

        _input = BufferPool.Shared.Rent(InputCapacity);
    }

    public int Fd => _fd;

    /// <summary>Sets SO_RCVTIMEO; zero means wait for ever.</summary>
    public void SetReceiveTimeout(TimeSpan timeout) =>
        _socket.ReceiveTimeout = timeout <= TimeSpan.Zero ? 0 : (int)Math.Min(timeout.TotalMilliseconds, int.MaxValue);

    /// <summary>
    /// Makes at least <paramref name="count"/> bytes available. Returns false if the peer closed cleanly before
    /// sending any byte of them; throws if it closed mid-message. Each receive asks for at most
    /// <paramref name="readAhead"/> bytes beyond what is missing: a small limit keeps bulk payload that follows a
    /// header out of this buffer, so that <see cref="ReadExact"/> can receive it straight into its destination.
    /// </summary>
    public bool TryFill(int count, int readAhead = InputCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, InputCapacity);

        if (_end - _start >= count)
        {
            return true;
        }

        if (InputCapacity - _start < count)
        {
            // Slide the partial message to the front; it is at most one header long.
            _input.Span[_start.._end].CopyTo(_input.Span);
            _end -= _start;
            _start = 0;
        }

        while (_end - _start < count)
        {
            var want = Math.Min(InputCapacity - _end, count - (_end - _start) + readAhead);
            var n = LibC.Receive(_fd, _input.Span.Slice(_end, want));
            if (n == 0)
            {
                if (_end == _start)
                {
                    return false;
                }

                throw new ConnectionClosedException($"peer closed the connection mid-message ({_end - _start} of {count} bytes)");
            }

            if (n < 0)
            {
                throw ReceiveFailed((int)-n);
            }

            _end += (int)n;
        }

        return true;
    }

    /// <summary>Makes <paramref name="count"/> bytes available or throws.</summary>
    public void Fill(int count, int readAhead = InputCapacity)
    {
        if (!TryFill(count, readAhead))
        {
            throw new ConnectionClosedException("peer closed the connection", clean: true);
        }
    }

    /// <summary>The next <paramref name="count"/> buffered bytes; valid until the next receive.</summary>
    public ReadOnlySpan<byte> Peek(int count) => _input.Span.Slice(_start, count);

    /// <summary>Marks buffered bytes as used.</summary>
    public void Consume(int count)
    {
        _start += count;
        if (_start == _end)
        {
            _start = _end = 0;
        }
    }

    /// <summary>Receives exactly <paramref name="destination"/>.Length bytes: buffered ones first, the rest straight in.</summary>
    public void ReadExact(Span<byte> destination)
    {
        var fromBuffer = Math.Min(_end - _start, destination.Length);
        _input.Span.Slice(_start, fromBuffer).CopyTo(destination);
        Consume(fromBuffer);
        var done = fromBuffer;
        while (done < destination.Length)
        {
            var n = LibC.Receive(_fd, destination[done..]);
            if (n == 0)
            {
                throw new ConnectionClosedException($"peer closed the connection mid-payload ({done} of {destination.Length} bytes)");
            }

            if (n < 0)
            {
                throw ReceiveFailed((int)-n);
            }

            done += (int)n;
        }
    }

    /// <summary>Receives and discards <paramref name="count"/> bytes, keeping the stream in step after a refused request.</summary>
    public void Skip(long count)
    {
        while (count > 0)
        {
            if (_end == _start && !TryFill(1))
            {
                throw new ConnectionClosedException("peer closed the connection mid-payload");
            }

            var n = (int)Math.Min(count, _end - _start);
            Consume(n);
            count -= n;
        }
    }

    /// <summary>Sends all of <paramref name="data"/> or throws.</summary>
    public void Send(ReadOnlySpan<byte> data, bool more = false)
    {
        var rc = LibC.SendAll(_fd, data, more ? LibC.MSG_MORE : 0);
        if (rc != 0)
        {
            throw SendFailed(-rc);
        }
    }

    /// <summary>Sends a gather list or throws.</summary>
    public void Send(Span<LibC.IoVec> vectors, bool more = false)
    {
        var rc = LibC.SendVectors(_fd, vectors, more ? LibC.MSG_MORE : 0);
        if (rc != 0)
        {
            throw SendFailed(-rc);
        }
    }

    /// <summary>Stops further receives: a blocked reader wakes up with end-of-stream.</summary>
    public void ShutdownReceive() => Shutdown(LibC.SHUT_RD);

    /// <summary>Stops both directions: blocked reader and writer wake up with errors.</summary>
    public void ShutdownBoth() => Shutdown(LibC.SHUT_RDWR);

    public void Dispose()
    {
        lock (_closeLock)
        {
            if (_disposed != 0)
            {
                return;
            }

            _disposed = 1;
        }

        if (_handleReferenced)
        {
            _socket.SafeHandle.DangerousRelease();
        }

        _socket.Dispose();
        _input?.Dispose();
    }

    /// <summary>
    /// shutdown(2) by descriptor number, never after <see cref="Dispose"/>: once closed, the number may already belong
    /// to another connection, and shutting that one down would break a stranger.
    /// </summary>
    private void Shutdown(int how)
    {
        lock (_closeLock)
        {
            if (_disposed == 0)
            {
                LibC.Shutdown(_fd, how);
            }
        }
    }

    internal static ConnectionClosedException SendFailed(int errno) =>
        new(errno is Blocks.Errno.EPIPE or Blocks.Errno.ECONNRESET ? "peer stopped reading" : $"send failed: errno {errno}");

    private static ConnectionClosedException ReceiveFailed(int errno) => errno switch
    {
        Blocks.Errno.EAGAIN => new ConnectionClosedException("peer sent nothing before the timeout"),
        Blocks.Errno.ECONNRESET => new ConnectionClosedException("peer reset the connection"),
        _ => new ConnectionClosedException($"recv failed: errno {errno}"),
    };
}
