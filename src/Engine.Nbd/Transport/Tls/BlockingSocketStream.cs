using System.Net.Sockets;
using Engine.Blocks;
using Engine.Blocks.Buffers;
using Engine.Blocks.Native;

namespace Engine.Nbd.Transport.Tls;

/// <summary>
/// The ciphertext side under a server's SslStream: recv(2) and send(2) straight on the socket's descriptor, on the
/// calling thread. On a blocking descriptor each call is one syscall; .NET's NetworkStream would instead route a
/// socket that has ever been used asynchronously through its epoll thread, a thread hand-off per TLS record. The
/// asynchronous methods complete before they return (they block like the synchronous ones): the NBD server's
/// reader and writer are threads of their own and wait for every call anyway. A non-blocking descriptor works too
/// (EAGAIN waits in poll(2)), so the TLS handshake may run before the socket goes back to blocking mode.
/// One reader and one writer may use the stream at once, as SslStream allows above it. While corked
/// (<see cref="ISendCork"/>), writes gather in a buffer, so a reply's records leave in a few large sends.
/// </summary>
internal sealed unsafe class BlockingSocketStream : Stream, ISendCork
{
    /// <summary>Corked bytes sent at once: sixteen full TLS records.</summary>
    private const int CorkCapacity = 256 << 10;

    private readonly Socket _socket;
    private readonly int _fd;
    private bool _referenced;
    private NativeBuffer? _cork;
    private int _corked;
    private bool _corking;
    private int _disposed;

    public BlockingSocketStream(Socket socket)
    {
        _socket = socket;
        socket.SafeHandle.DangerousAddRef(ref _referenced);
        _fd = (int)socket.SafeHandle.DangerousGetHandle();
    }

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    /// <inheritdoc/>
    public void Cork()
    {
        _cork ??= BufferPool.Shared.Rent(CorkCapacity);
        _corking = true;
    }

    /// <inheritdoc/>
    public void Uncork()
    {
        _corking = false;
        SendCorked();
    }

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }

        while (true)
        {
            var n = LibC.Receive(_fd, buffer);
            if (n >= 0)
            {
                return (int)n;
            }

            if (-n != Errno.EAGAIN)
            {
                throw new IOException(-n == Errno.ECONNRESET ? "the peer reset the connection" : $"recv failed: errno {-n}");
            }

            WaitUntil(SelectMode.SelectRead);
        }
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (!_corking)
        {
            SendAll(buffer);
            return;
        }

        if (_corked + buffer.Length > CorkCapacity)
        {
            SendCorked();
            if (buffer.Length >= CorkCapacity)
            {
                SendAll(buffer);
                return;
            }
        }

        buffer.CopyTo(_cork!.Span[_corked..]);
        _corked += buffer.Length;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    // Blocking on purpose (see the summary); a failure still surfaces through the task, as callers expect.
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            return ValueTask.FromResult(Read(buffer.Span));
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
            return ValueTask.FromException<int>(ex);
        }
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
            return ValueTask.FromException(ex);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Sends what is corked (a cork stays on); SslStream.Flush calls this.</summary>
    public override void Flush() => SendCorked();

    public override Task FlushAsync(CancellationToken cancellationToken)
    {
        Flush();
        return Task.CompletedTask;
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            // Records still corked (the last reply, close_notify) belong on the wire before the socket closes.
            SendCorked();
        }
        catch (IOException)
        {
            // The peer is gone; nothing more to deliver.
        }

        _cork?.Dispose();
        _cork = null;
        if (_referenced)
        {
            _socket.SafeHandle.DangerousRelease();
            _referenced = false;
        }

        base.Dispose(disposing);
    }

    private void SendCorked()
    {
        if (_corked > 0)
        {
            var count = _corked;
            _corked = 0;
            SendAll(_cork!.Span[..count]);
        }
    }

    private void SendAll(ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            var done = 0;
            while (done < data.Length)
            {
                var n = LibC.Send(_fd, p + done, (nuint)(data.Length - done), LibC.MSG_NOSIGNAL);
                if (n >= 0)
                {
                    done += (int)n;
                    continue;
                }

                var errno = LibC.LastErrno;
                if (errno == Errno.EAGAIN)
                {
                    WaitUntil(SelectMode.SelectWrite);
                }
                else if (errno != Errno.EINTR)
                {
                    throw new IOException(errno is Errno.EPIPE or Errno.ECONNRESET ? "the peer stopped reading" : $"send failed: errno {errno}");
                }
            }
        }
    }

    private void WaitUntil(SelectMode mode)
    {
        try
        {
            _ = _socket.Poll(-1, mode);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            throw new IOException($"socket failed: {ex.Message}", ex);
        }
    }
}
