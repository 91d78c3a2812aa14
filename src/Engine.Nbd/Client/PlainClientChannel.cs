using System.Net.Sockets;
using Engine.Nbd.Transport;

namespace Engine.Nbd.Client;

/// <summary>
/// A connection without TLS: the transport's <see cref="SocketChannel"/> (blocking syscalls on the descriptor,
/// payloads received straight into their destination). It also owns the socket for a TLS session started on it.
/// </summary>
internal sealed class PlainClientChannel(Socket socket) : IClientChannel
{
    private readonly SocketChannel _channel = new(socket);

    /// <summary>The connected socket, for a TLS handshake over it.</summary>
    public Socket Socket { get; } = socket;

    public bool TryFill(int count, int readAhead) => _channel.TryFill(count, readAhead);

    public ReadOnlySpan<byte> Peek(int count) => _channel.Peek(count);

    public void Consume(int count) => _channel.Consume(count);

    public void ReadExact(Span<byte> destination) => _channel.ReadExact(destination);

    public void Send(ReadOnlySpan<byte> data, bool more = false) => _channel.Send(data, more);

    public void SetReceiveTimeout(TimeSpan timeout) => _channel.SetReceiveTimeout(timeout);

    public void ShutdownBoth() => _channel.ShutdownBoth();

    /// <summary>Stops further receives (a TLS channel on this socket forwards its own to here).</summary>
    public void ShutdownReceive() => _channel.ShutdownReceive();

    public void Dispose() => _channel.Dispose();
}
