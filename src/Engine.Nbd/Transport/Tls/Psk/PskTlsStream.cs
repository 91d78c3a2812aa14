using System.Buffers;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Engine.Blocks.Native;

namespace Engine.Nbd.Transport.Tls.Psk;

/// <summary>
/// The plaintext side of an OpenSSL session over a connected socket, for PSK (which .NET's SslStream lacks).
/// <para>
/// Why a lock and a non-blocking descriptor: OpenSSL does not allow two threads in one <c>SSL</c> at once, not even
/// one SSL_read beside one SSL_write (both touch the shared record layer and <c>rwstate</c>, which SSL_get_error
/// reads; a TLS 1.3 read may also have to write, for a KeyUpdate). The NBD server reads requests on one thread while
/// replies go out on another, so every SSL call holds <see cref="_lock"/>. With a blocking descriptor a reader would
/// hold that lock while it waits for the next request and starve the writer; so the descriptor is non-blocking, each
/// call only moves what is ready, and the waiting for readiness (<c>WANT_READ</c>/<c>WANT_WRITE</c>) happens outside
/// the lock. Memory BIO pairs would also work but cost one more copy of every byte.
/// </para>
/// <para>
/// Writes use SSL_MODE_ENABLE_PARTIAL_WRITE: one SSL_write call sends as many full 16 KiB records as the socket
/// takes and returns, so a large reply goes out as large records, the lock is given back between bursts, and nothing
/// is allocated per call (OpenSSL's record buffers belong to the <c>SSL</c>). Asynchronous reads wait for data with a
/// zero-byte socket receive; a write that finds the socket's buffer full waits in poll(2) on the caller's thread
/// (so WriteAsync blocks; the NBD server's writer is a thread of its own, and .NET has no awaitable "writable"). The socket is switched to non-blocking for this (after STARTTLS every byte goes
/// through the stream anyway). Disposing sends close_notify (without waiting for the peer's) and frees the
/// <c>SSL</c>; the socket stays the caller's, but its descriptor is held open until then, so its number cannot be
/// reused under OpenSSL.
/// </para>
/// </summary>
internal sealed class PskTlsStream : DuplexByteStream
{
    private readonly Socket _socket;
    private readonly SslHandle _ssl;
    private readonly Lock _lock = new();
    private GCHandle _state;
    private bool _socketReferenced;
    private bool _established;
    private int _disposed;

    /// <summary>Prepares a session on <paramref name="socket"/>; <see cref="HandshakeAsync"/> runs the handshake.</summary>
    public PskTlsStream(Socket socket, SslContextHandle context, PskHandshakeState state)
    {
        _socket = socket;
        _ssl = OpenSsl.SSL_new(context);
        if (_ssl.IsInvalid)
        {
            throw new NbdTlsException("OpenSSL cannot create a TLS connection: " + (OpenSsl.TakeErrors() ?? "unknown error"));
        }

        socket.SafeHandle.DangerousAddRef(ref _socketReferenced);

        // fcntl, not Socket.Blocking: the transport's SocketChannel set the descriptor blocking behind .NET's back, so
        // .NET may believe it is still non-blocking and skip the change. A blocking SSL_read would then hold the lock
        // while it waits and starve every write (the client hung sending NBD_CMD_DISC).
        var rc = LibC.MakeNonBlocking(socket.SafeHandle);
        if (rc != 0)
        {
            Dispose();
            throw new NbdTlsException($"cannot make the socket non-blocking for TLS: errno {-rc}");
        }

        _state = GCHandle.Alloc(state);
        if (OpenSsl.SSL_set_fd(_ssl, (int)socket.SafeHandle.DangerousGetHandle()) != 1
            || OpenSsl.SSL_set_ex_data(_ssl, PskCallbacks.StateSlot, GCHandle.ToIntPtr(_state)) != 1)
        {
            Dispose();
            throw new NbdTlsException("OpenSSL cannot attach to the socket: " + (OpenSsl.TakeErrors() ?? "unknown error"));
        }
    }

    /// <summary>The negotiated protocol (<c>TLSv1.3</c>).</summary>
    public string Protocol => OpenSsl.Version(_ssl);

    /// <summary>The negotiated cipher suite.</summary>
    public string? Cipher => OpenSsl.CipherName(_ssl);

    /// <summary>Runs SSL_accept or SSL_connect to the end. Returns null when established, else OpenSSL's reason.</summary>
    public async ValueTask<string?> HandshakeAsync(bool server, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                int error;
                string? reason = null;
                lock (_lock)
                {
                    OpenSsl.ERR_clear_error();
                    var result = server ? OpenSsl.SSL_accept(_ssl) : OpenSsl.SSL_connect(_ssl);
                    if (result == 1)
                    {
                        _established = true;
                        return null;
                    }

                    error = OpenSsl.SSL_get_error(_ssl, result);
                    if (!IsWait(error))
                    {
                        reason = OpenSsl.TakeErrors() ?? (error == OpenSsl.SSL_ERROR_SYSCALL || result == 0
                            ? "the peer closed the connection"
                            : $"OpenSSL error {error}");
                    }
                }

                if (reason is not null)
                {
                    return reason;
                }

                await WaitAsync(error, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            // The callbacks run only inside the handshake: the state can go now.
            _ = OpenSsl.SSL_set_ex_data(_ssl, PskCallbacks.StateSlot, 0);
            _state.Free();
        }
    }

    public override unsafe int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }

        fixed (byte* p = buffer)
        {
            while (true)
            {
                var error = TryRead(p, buffer.Length, out var read);
                if (error == OpenSsl.SSL_ERROR_NONE)
                {
                    return read;
                }

                Wait(error);
            }
        }
    }

    // Pooled state machine: a read that has to wait for data allocates nothing per call.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }

        using var pin = buffer.Pin();
        while (true)
        {
            var error = TryRead(pin, buffer.Length, out var read);
            if (error == OpenSsl.SSL_ERROR_NONE)
            {
                return read;
            }

            await WaitAsync(error, cancellationToken).ConfigureAwait(false);
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override unsafe void Write(ReadOnlySpan<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            var done = 0;
            while (done < buffer.Length)
            {
                var error = TryWrite(p + done, buffer.Length - done, out var written);
                if (error == OpenSsl.SSL_ERROR_NONE)
                {
                    done += written;
                }
                else
                {
                    Wait(error);
                }
            }
        }
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Nothing to do: every write hands its records to the socket before it returns.</summary>
    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    protected override void Dispose(bool disposing)
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (_established && !_ssl.IsInvalid)
        {
            lock (_lock)
            {
                // One call queues and sends close_notify; waiting for the peer's would let it stall our close.
                OpenSsl.ERR_clear_error();
                _ = OpenSsl.SSL_shutdown(_ssl);
                OpenSsl.ERR_clear_error();
            }
        }

        _ssl.Dispose();
        if (_state.IsAllocated)
        {
            _state.Free();
        }

        if (_socketReferenced)
        {
            _socket.SafeHandle.DangerousRelease();
            _socketReferenced = false;
        }

        base.Dispose(disposing);
    }

    private static bool IsWait(int error) => error is OpenSsl.SSL_ERROR_WANT_READ or OpenSsl.SSL_ERROR_WANT_WRITE;

    /// <summary><see cref="TryRead(byte*, int, out int)"/> into pinned memory (an async method cannot hold a pointer).</summary>
    private unsafe int TryRead(MemoryHandle pin, int length, out int read) => TryRead((byte*)pin.Pointer, length, out read);

    /// <summary>
    /// One SSL_read under the lock: NONE with the count (0 at end of stream), or the WANT_* to wait for. It yields at
    /// most one record (16 KiB); looping on for more while holding the lock measured no faster and kept the writer
    /// waiting longer (bench/TlsPskThroughput).
    /// </summary>
    private unsafe int TryRead(byte* into, int length, out int read)
    {
        lock (_lock)
        {
            OpenSsl.ERR_clear_error();
            var result = OpenSsl.SSL_read(_ssl, into, length);
            read = Math.Max(result, 0);
            if (result > 0)
            {
                return OpenSsl.SSL_ERROR_NONE;
            }

            var error = OpenSsl.SSL_get_error(_ssl, result);
            return error switch
            {
                OpenSsl.SSL_ERROR_ZERO_RETURN => OpenSsl.SSL_ERROR_NONE,
                OpenSsl.SSL_ERROR_WANT_READ or OpenSsl.SSL_ERROR_WANT_WRITE => error,
                _ => throw Failed("read", error),
            };
        }
    }

    /// <summary>One SSL_write under the lock: NONE with the count written, or the WANT_* to wait for.</summary>
    private unsafe int TryWrite(byte* from, int length, out int written)
    {
        lock (_lock)
        {
            OpenSsl.ERR_clear_error();
            var result = OpenSsl.SSL_write(_ssl, from, length);
            written = Math.Max(result, 0);
            if (result > 0)
            {
                return OpenSsl.SSL_ERROR_NONE;
            }

            var error = OpenSsl.SSL_get_error(_ssl, result);
            return IsWait(error) ? error : throw Failed("write", error);
        }
    }

    private static IOException Failed(string what, int error) =>
        new($"TLS {what} failed: " + (OpenSsl.TakeErrors() ?? (error == OpenSsl.SSL_ERROR_SYSCALL ? "the connection was reset" : $"OpenSSL error {error}")));

    private void Wait(int error)
    {
        try
        {
            _ = _socket.Poll(-1, error == OpenSsl.SSL_ERROR_WANT_READ ? SelectMode.SelectRead : SelectMode.SelectWrite);
        }
        catch (SocketException e)
        {
            throw new IOException("TLS connection failed: " + e.Message, e);
        }
    }

    private async ValueTask WaitAsync(int error, CancellationToken cancellationToken)
    {
        if (error != OpenSsl.SSL_ERROR_WANT_READ)
        {
            Wait(error);
            return;
        }

        try
        {
            // A zero-byte receive completes when data arrives, without taking any of it.
            _ = await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            throw new IOException("TLS connection failed: " + e.Message, e);
        }
    }
}
