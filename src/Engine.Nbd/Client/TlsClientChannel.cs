using System.Net.Sockets;
using System.Security.Authentication;
using Engine.Blocks.Buffers;
using Engine.Nbd.Transport;
using Engine.Nbd.Transport.Tls;

namespace Engine.Nbd.Client;

/// <summary>
/// A connection after NBD_OPT_STARTTLS: every byte goes through the TLS session's stream. Headers are parsed from a
/// pooled read-ahead buffer; READ data is decrypted straight into the caller's memory (the stream's own record
/// buffer is the only stop on the way, so a pipe in between would add a copy); a request header is held back and
/// sent in one record with what follows it. The socket itself stays with the plain channel, which shuts it down and
/// closes it. Buffers are rented once per connection: no request allocates.
/// </summary>
internal sealed class TlsClientChannel : IClientChannel
{
    private const int InputCapacity = 64 << 10;

    /// <summary>One TLS record's worth: a header and a small payload leave in one record.</summary>
    private const int OutputCapacity = 16 << 10;

    private readonly PlainClientChannel _plain;
    private readonly TlsSession _session;
    private readonly Stream _stream;
    private readonly NativeBuffer _input;
    private readonly NativeBuffer _output;
    private int _start;
    private int _end;
    private int _pending;
    private int _disposed;

    public TlsClientChannel(PlainClientChannel plain, TlsSession session)
    {
        _plain = plain;
        _session = session;
        _stream = session.Stream;
        _input = BufferPool.Shared.Rent(InputCapacity);
        _output = BufferPool.Shared.Rent(OutputCapacity);
    }

    /// <summary>Who the server proved to be.</summary>
    public TlsSession Session => _session;

    public bool TryFill(int count, int readAhead)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, InputCapacity);
        if (_end - _start >= count)
        {
            return true;
        }

        if (InputCapacity - _start < count)
        {
            _input.Span[_start.._end].CopyTo(_input.Span);
            _end -= _start;
            _start = 0;
        }

        while (_end - _start < count)
        {
            var want = Math.Min(InputCapacity - _end, count - (_end - _start) + readAhead);
            var n = Receive(_input.Span.Slice(_end, want));
            if (n == 0)
            {
                if (_end == _start)
                {
                    return false;
                }

                throw new ConnectionClosedException($"peer closed the TLS session mid-message ({_end - _start} of {count} bytes)");
            }

            _end += n;
        }

        return true;
    }

    public ReadOnlySpan<byte> Peek(int count) => _input.Span.Slice(_start, count);

    public void Consume(int count)
    {
        _start += count;
        if (_start == _end)
        {
            _start = _end = 0;
        }
    }

    public void ReadExact(Span<byte> destination)
    {
        var fromBuffer = Math.Min(_end - _start, destination.Length);
        _input.Span.Slice(_start, fromBuffer).CopyTo(destination);
        Consume(fromBuffer);
        var done = fromBuffer;
        while (done < destination.Length)
        {
            var n = Receive(destination[done..]);
            if (n == 0)
            {
                throw new ConnectionClosedException($"peer closed the TLS session mid-payload ({done} of {destination.Length} bytes)");
            }

            done += n;
        }
    }

    public void Send(ReadOnlySpan<byte> data, bool more = false)
    {
        try
        {
            if (_pending + data.Length <= OutputCapacity)
            {
                data.CopyTo(_output.Span[_pending..]);
                _pending += data.Length;
                if (!more)
                {
                    Flush();
                }

                return;
            }

            Flush();
            _stream.Write(data);
        }
        catch (IOException ex)
        {
            throw new ConnectionClosedException($"TLS send failed: {Reason(ex)}");
        }
        catch (ObjectDisposedException)
        {
            throw new ConnectionClosedException("TLS session closed");
        }
    }

    public void SetReceiveTimeout(TimeSpan timeout) => _plain.SetReceiveTimeout(timeout);

    public void ShutdownBoth() => _plain.ShutdownBoth();

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _plain.ShutdownBoth();
        try
        {
            _session.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        catch (IOException)
        {
            // The socket is already shut down: nothing more to say to the peer.
        }

        _plain.Dispose();
        _input.Dispose();
        _output.Dispose();
    }

    private void Flush()
    {
        if (_pending > 0)
        {
            var length = _pending;
            _pending = 0;
            _stream.Write(_output.Span[..length]);
        }
    }

    private int Receive(Span<byte> destination)
    {
        try
        {
            return _stream.Read(destination);
        }
        catch (IOException ex)
        {
            throw new ConnectionClosedException($"TLS receive failed: {Reason(ex)}");
        }
        catch (ObjectDisposedException)
        {
            throw new ConnectionClosedException("TLS session closed");
        }
    }

    /// <summary>Our words for why the session broke, not the runtime's.</summary>
    private static string Reason(IOException ex) => ex.InnerException switch
    {
        // EPIPE surfaces as Shutdown: the peer closed its end.
        SocketException { SocketErrorCode: SocketError.Shutdown } => "the peer closed the connection",
        SocketException { SocketErrorCode: SocketError.ConnectionAborted } => "the connection was closed",
        SocketException socket => SocketErrors.Describe(socket),
        AuthenticationException => "the peer sent an invalid TLS record or alert",
        _ => "the peer closed the connection",
    };
}
