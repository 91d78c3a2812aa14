using System.Net.Security;
using Engine.Blocks.Buffers;
using Engine.Blocks.Native;
using Engine.Nbd.Transport.Tls;

namespace Engine.Nbd.Transport;

/// <summary>
/// A connection's byte stream after NBD_OPT_STARTTLS: the decrypted side of a <see cref="TlsSession"/>, used
/// synchronously. The reader thread decrypts requests straight into the receive buffer (or a WRITE's payload buffer);
/// the writer thread encrypts replies straight from their pooled buffers. Nothing sits between the threads and the
/// session: no pipe, no pump, no task per write (bench/RESULTS.md measures this against the earlier
/// Pipelines.Sockets.Unofficial duplex pipe). Small pieces of a reply (headers, short data) are staged until a full
/// 16 KiB record's worth is there, so that a header never costs a record of its own; a burst of replies is corked
/// (<see cref="ISendCork"/>) so its records leave in a few large sends. File ranges cannot be sent (the data must be
/// encrypted here): reads are answered from pooled buffers instead. Shutdown goes to the socket underneath.
/// </summary>
internal sealed unsafe class TlsChannel : ConnectionTransport
{
    /// <summary>The largest TLS record's plaintext: staged bytes go out in records this size.</summary>
    private const int RecordSize = 16 << 10;

    private readonly SocketChannel _socket;
    private readonly TlsSession _session;
    private readonly Stream _stream;
    private readonly ISendCork? _cork;
    private readonly bool _memoryCalls;
    private readonly PointerMemory _readView = new();
    private readonly PointerMemory _writeView = new();
    private readonly NativeBuffer _staging;
    private readonly Lock _closeLock = new();
    private int _staged;
    private bool _inBurst;
    private bool _released;

    public TlsChannel(SocketChannel socket, TlsSession session)
    {
        _socket = socket;
        _session = session;
        _stream = session.Stream;
        _cork = session.SendCork;

        // SslStream has no span overloads (the base Stream copies through a rented array); its Memory overloads
        // complete at once over a BlockingSocketStream, so they are used with a view of the caller's memory.
        _memoryCalls = _stream is SslStream;
        if (_cork is BlockingSocketStream)
        {
            // SslStream lets one thread block in a read while another blocks in a write: the descriptor can block
            // again (the handshake ran on it non-blocking), which makes every receive and send a single syscall.
            socket.ReturnToBlocking();
        }

        _staging = BufferPool.Shared.Rent(RecordSize);
    }

    /// <summary>Who the TLS handshake proved the peer to be.</summary>
    public TlsPeer Peer => _session.Peer;

    public override bool CanSendFileRanges => false;

    public override string Security => $"{_session.Protocol}/{_session.Authentication}";

    /// <inheritdoc/>
    public override void Send(ReadOnlySpan<byte> data, bool more = false)
    {
        fixed (byte* p = data)
        {
            Stage(p, data.Length);
        }

        if (!more)
        {
            EndBurst();
        }
    }

    /// <inheritdoc/>
    public override void Send(Span<LibC.IoVec> vectors, bool more = false)
    {
        for (var i = 0; i < vectors.Length; i++)
        {
            Stage((byte*)vectors[i].Base, checked((int)vectors[i].Length));
        }

        if (!more)
        {
            EndBurst();
        }
    }

    /// <inheritdoc/>
    public override void ShutdownReceive() => _socket.ShutdownReceive();

    /// <inheritdoc/>
    public override void ShutdownBoth() => _socket.ShutdownBoth();

    /// <inheritdoc/>
    protected override int ReceiveSome(Span<byte> destination)
    {
        try
        {
            if (!_memoryCalls)
            {
                return _stream.Read(destination);
            }

            fixed (byte* p = destination)
            {
                // The view does not outlive the call: the read completes before the pin ends.
                var pending = _stream.ReadAsync(_readView.Aim(p, destination.Length));
                return pending.IsCompletedSuccessfully ? pending.Result : pending.AsTask().GetAwaiter().GetResult();
            }
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or ObjectDisposedException)
        {
            throw new ConnectionClosedException($"TLS session failed: {ex.Message}");
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

        try
        {
            // Replies still staged (the ACK of an ABORT, the last error) go out before the session closes.
            EndBurst();
        }
        catch (ConnectionClosedException)
        {
            // The peer is gone; nothing more to deliver.
        }

        _session.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _socket.ShutdownBoth();
        _socket.Dispose();
        _staging.Dispose();
        ((IDisposable)_readView).Dispose();
        ((IDisposable)_writeView).Dispose();
        return true;
    }

    /// <summary>
    /// Adds <paramref name="length"/> bytes to the burst: large runs go to the session directly (it cuts them into
    /// records), small ones are staged so that they share records with what follows.
    /// </summary>
    private void Stage(byte* data, int length)
    {
        if (!_inBurst)
        {
            _inBurst = true;
            _cork?.Cork();
        }

        while (length > 0)
        {
            if (_staged == 0 && length >= RecordSize)
            {
                Write(data, length);
                return;
            }

            var n = Math.Min(length, RecordSize - _staged);
            new ReadOnlySpan<byte>(data, n).CopyTo(_staging.Span[_staged..]);
            _staged += n;
            data += n;
            length -= n;
            if (_staged == RecordSize)
            {
                WriteStaged();
            }
        }
    }

    /// <summary>The burst is over: everything staged and corked goes to the peer now.</summary>
    private void EndBurst()
    {
        WriteStaged();
        if (!_inBurst)
        {
            return;
        }

        _inBurst = false;
        try
        {
            if (_cork is null)
            {
                _stream.Flush();
            }
            else
            {
                _cork.Uncork();
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            throw new ConnectionClosedException($"TLS session failed: {ex.Message}");
        }
    }

    private void WriteStaged()
    {
        if (_staged > 0)
        {
            var count = _staged;
            _staged = 0;
            Write(_staging.Pointer, count);
        }
    }

    private void Write(byte* data, int length)
    {
        try
        {
            if (!_memoryCalls)
            {
                _stream.Write(new ReadOnlySpan<byte>(data, length));
                return;
            }

            // The view does not outlive the call: the write completes before it returns.
            var pending = _stream.WriteAsync(_writeView.Aim(data, length));
            if (!pending.IsCompletedSuccessfully)
            {
                pending.AsTask().GetAwaiter().GetResult();
            }
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or ObjectDisposedException)
        {
            throw new ConnectionClosedException($"TLS session failed: {ex.Message}");
        }
    }
}
