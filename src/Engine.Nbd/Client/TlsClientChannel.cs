using System.Net.Sockets;
using System.Security.Authentication;
using Engine.Blocks.Buffers;
using Engine.Blocks.Native;
using Engine.Nbd.Transport;
using Engine.Nbd.Transport.Tls;

namespace Engine.Nbd.Client;

/// <summary>
/// A connection after NBD_OPT_STARTTLS: every byte goes through the TLS session's stream. Headers are parsed from a
/// pooled read-ahead buffer; READ data is decrypted straight into the caller's memory (the stream's own record
/// buffer is the only stop on the way, so a pipe in between would add a copy); a request header is held back and
/// sent in one record with what follows it. The socket itself stays with the plain channel, which shuts it down and
/// closes it. The read-ahead buffer and its parsing are <see cref="ConnectionTransport"/>'s, the server's too. Buffers are
/// rented once per connection: no request allocates.
/// </summary>
internal sealed unsafe class TlsClientChannel : ConnectionTransport, IClientChannel
{
    /// <summary>One TLS record's worth: a header and a small payload leave in one record.</summary>
    private const int OutputCapacity = 16 << 10;

    private readonly PlainClientChannel _plain;
    private readonly TlsSession _session;
    private readonly Stream _stream;
    private readonly NativeBuffer _output;
    private int _pending;
    private int _disposed;

    public TlsClientChannel(PlainClientChannel plain, TlsSession session)
    {
        _plain = plain;
        _session = session;
        _stream = session.Stream;
        _output = BufferPool.Shared.Rent(OutputCapacity);
    }

    /// <summary>Who the server proved to be.</summary>
    public TlsSession Session => _session;

    public override bool CanSendFileRanges => false;

    public override string Security => $"{_session.Protocol}/{_session.Authentication}";

    public override void Send(ReadOnlySpan<byte> data, bool more = false)
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

    public override void Send(Span<LibC.IoVec> vectors, bool more = false)
    {
        for (var i = 0; i < vectors.Length; i++)
        {
            Send(new ReadOnlySpan<byte>(vectors[i].Base, checked((int)vectors[i].Length)), more || i < vectors.Length - 1);
        }
    }

    public void SetReceiveTimeout(TimeSpan timeout) => _plain.SetReceiveTimeout(timeout);

    public override void ShutdownReceive() => _plain.ShutdownReceive();

    public override void ShutdownBoth() => _plain.ShutdownBoth();

    protected override int ReceiveSome(Span<byte> destination) => Receive(destination);

    protected override bool Release()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return false;
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
        _output.Dispose();
        return true;
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
