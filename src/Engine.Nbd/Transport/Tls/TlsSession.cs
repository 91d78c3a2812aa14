namespace Engine.Nbd.Transport.Tls;

/// <summary>
/// An established TLS session over a connected socket: the decrypted byte stream, who the peer is, and what was
/// negotiated. Disposing it sends close_notify where possible and releases the stream; the socket stays the caller's.
/// </summary>
public sealed class TlsSession : IAsyncDisposable
{
    /// <summary>Creates a session over <paramref name="stream"/>.</summary>
    public TlsSession(Stream stream, TlsPeer peer, string protocol, string authentication)
    {
        Stream = stream;
        Peer = peer;
        Protocol = protocol;
        Authentication = authentication;
    }

    /// <summary>The plaintext side of the session: reads decrypt, writes encrypt.</summary>
    public Stream Stream { get; }

    /// <summary>Who the peer proved to be.</summary>
    public TlsPeer Peer { get; }

    /// <summary>The negotiated protocol (<c>TLSv1.3</c>).</summary>
    public string Protocol { get; }

    /// <summary>How the session was authenticated: <c>x509</c> or <c>psk</c>.</summary>
    public string Authentication { get; }

    /// <summary>
    /// Gathers the session's records into large sends while a burst of replies is written; null if the stream
    /// below sends each write at once anyway (OpenSSL's PSK session writes straight to the socket).
    /// </summary>
    internal ISendCork? SendCork { get; init; }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => Stream.DisposeAsync();
}
