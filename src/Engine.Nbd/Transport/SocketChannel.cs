using System.Net.Sockets;
using Engine.Blocks.Native;

namespace Engine.Nbd.Transport;

/// <summary>
/// Owns a connected socket and its receive buffer. Bytes are parsed in place from the buffer; bulk payloads are
/// received straight into their destination, so a WRITE costs one copy (kernel to the destination buffer). Receiving
/// belongs to the connection's reader thread, sending to its writer thread (or the reader during the handshake).
/// </summary>
internal sealed class SocketChannel : ConnectionTransport
{
    private readonly Socket _socket;
    private readonly int _fd;
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
    }

    public int Fd => _fd;

    /// <summary>The socket, for handing it to a TLS handshake.</summary>
    public Socket Socket => _socket;

    /// <summary>Sets SO_RCVTIMEO; zero means wait for ever.</summary>
    public void SetReceiveTimeout(TimeSpan timeout) =>
        _socket.ReceiveTimeout = timeout <= TimeSpan.Zero ? 0 : (int)Math.Min(timeout.TotalMilliseconds, int.MaxValue);

    public override bool CanSendFileRanges => true;

    public override string Security => "plain";

    /// <inheritdoc/>
    protected override int ReceiveSome(Span<byte> destination)
    {
        var n = LibC.Receive(_fd, destination);
        return n >= 0 ? (int)n : throw ReceiveFailed((int)-n);
    }

    /// <summary>Sends all of <paramref name="data"/> or throws.</summary>
    public override void Send(ReadOnlySpan<byte> data, bool more = false)
    {
        var rc = LibC.SendAll(_fd, data, more ? LibC.MSG_MORE : 0);
        if (rc != 0)
        {
            throw SendFailed(-rc);
        }
    }

    /// <summary>Sends a gather list or throws.</summary>
    public override void Send(Span<LibC.IoVec> vectors, bool more = false)
    {
        var rc = LibC.SendVectors(_fd, vectors, more ? LibC.MSG_MORE : 0);
        if (rc != 0)
        {
            throw SendFailed(-rc);
        }
    }

    /// <inheritdoc/>
    public override void SendFileRange(int fileFd, long offset, long length)
    {
        var rc = LibC.SendFileAll(_fd, fileFd, offset, length);
        if (rc != 0)
        {
            // Part of the promised data may be on the wire: the stream cannot be resynchronised.
            throw rc == int.MinValue
                ? new ConnectionClosedException($"export file ended before offset {offset + length}")
                : SendFailed(-rc);
        }
    }

    /// <inheritdoc/>
    public override void ShutdownReceive() => Shutdown(LibC.SHUT_RD);

    /// <inheritdoc/>
    public override void ShutdownBoth() => Shutdown(LibC.SHUT_RDWR);

    /// <summary>
    /// Gives the descriptor back to .NET's asynchronous socket engine (O_NONBLOCK again), for a TLS session whose
    /// stream runs on it from now on. The plain receive buffer must be empty: bytes already read would be lost.
    /// </summary>
    public void HandOverToAsync()
    {
        if (Buffered != 0)
        {
            throw new ConnectionClosedException($"client sent {Buffered} bytes after STARTTLS before the TLS handshake");
        }

        var rc = LibC.MakeNonBlocking(_socket.SafeHandle);
        if (rc != 0)
        {
            throw new ConnectionClosedException($"cannot make socket non-blocking: errno {-rc}");
        }
    }

    /// <summary>
    /// Clears O_NONBLOCK again after a TLS handshake, for a session stream that makes its own syscalls on the
    /// descriptor (<see cref="Tls.BlockingSocketStream"/>): a blocking receive or send is one syscall, a non-blocking one
    /// that finds nothing to do costs a poll(2) and a retry.
    /// </summary>
    public void ReturnToBlocking()
    {
        var rc = LibC.MakeBlocking(_socket.SafeHandle);
        if (rc != 0)
        {
            throw new ConnectionClosedException($"cannot make socket blocking: errno {-rc}");
        }
    }

    /// <inheritdoc/>
    protected override bool Release()
    {
        lock (_closeLock)
        {
            if (_disposed != 0)
            {
                return false;
            }

            _disposed = 1;
        }

        if (_handleReferenced)
        {
            _socket.SafeHandle.DangerousRelease();
        }

        _socket.Dispose();
        return true;
    }

    /// <summary>
    /// shutdown(2) by descriptor number, never after <c>Dispose</c>: once closed, the number may already belong
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
