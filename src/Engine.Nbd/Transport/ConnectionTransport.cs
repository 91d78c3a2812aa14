using Engine.Blocks.Buffers;
using Engine.Blocks.Native;

namespace Engine.Nbd.Transport;

/// <summary>
/// A connection's byte stream as the handshake and transmission code see it: a receive buffer parsed in place, bulk
/// payloads received straight into their destination, sends of spans and gather lists, and one capability,
/// <see cref="CanSendFileRanges"/>. Two implementations: <see cref="SocketChannel"/> (plain, blocking syscalls on
/// the socket, sendfile) and <see cref="TlsChannel"/> (a TLS session's decrypted stream). Receiving belongs to the
/// connection's reader thread, sending to its writer thread (or the reader during the handshake).
/// </summary>
internal abstract class ConnectionTransport : IDisposable
{
    private const int InputCapacity = 64 << 10;

    private readonly NativeBuffer _input;
    private int _start;
    private int _end;

    protected ConnectionTransport()
    {
        _input = BufferPool.Shared.Rent(InputCapacity);
    }

    /// <summary>
    /// Whether <see cref="SendFileRange"/> works: file data can go from the page cache to the peer without passing
    /// through user space. True for a plain socket, false under TLS (the data must be encrypted here).
    /// </summary>
    public abstract bool CanSendFileRanges { get; }

    /// <summary>How the connection is protected, for logs: <c>plain</c> or the TLS protocol.</summary>
    public abstract string Security { get; }

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
            var n = ReceiveSome(_input.Span.Slice(_end, want));
            if (n == 0)
            {
                if (_end == _start)
                {
                    return false;
                }

                throw new ConnectionClosedException($"peer closed the connection mid-message ({_end - _start} of {count} bytes)");
            }

            _end += n;
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

    /// <summary>Bytes received but not yet consumed.</summary>
    public int Buffered => _end - _start;

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
            var n = ReceiveSome(destination[done..]);
            if (n == 0)
            {
                throw new ConnectionClosedException($"peer closed the connection mid-payload ({done} of {destination.Length} bytes)");
            }

            done += n;
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

    /// <summary>Sends all of <paramref name="data"/> or throws; <paramref name="more"/> says another send follows at once.</summary>
    public abstract void Send(ReadOnlySpan<byte> data, bool more = false);

    /// <summary>Sends a gather list or throws; the list may be modified.</summary>
    public abstract void Send(Span<LibC.IoVec> vectors, bool more = false);

    /// <summary>
    /// Sends <paramref name="length"/> bytes of the file <paramref name="fileFd"/> from <paramref name="offset"/>.
    /// Only when <see cref="CanSendFileRanges"/>.
    /// </summary>
    public virtual void SendFileRange(int fileFd, long offset, long length) =>
        throw new NotSupportedException("this transport cannot send file ranges");

    /// <summary>Stops further receives: a blocked reader wakes up with end-of-stream.</summary>
    public abstract void ShutdownReceive();

    /// <summary>Stops both directions: blocked reader and writer wake up with errors.</summary>
    public abstract void ShutdownBoth();

    /// <inheritdoc/>
    public void Dispose()
    {
        if (Release())
        {
            _input.Dispose();
        }
    }

    /// <summary>Receives at least one byte into <paramref name="destination"/>; 0 at end of stream; throws on failure.</summary>
    protected abstract int ReceiveSome(Span<byte> destination);

    /// <summary>Releases what the transport holds; true the first time only.</summary>
    protected abstract bool Release();
}
