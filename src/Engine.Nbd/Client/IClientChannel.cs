namespace Engine.Nbd.Client;

/// <summary>
/// The byte stream of one client connection, as the handshake and the reply reader use it: parse headers in place
/// from a small read-ahead buffer, receive bulk payloads straight into their destination, send whole messages.
/// Two implementations: <see cref="PlainClientChannel"/> (the socket itself, blocking syscalls) and
/// <see cref="TlsClientChannel"/> (a TLS session's stream after NBD_OPT_STARTTLS).
/// </summary>
internal interface IClientChannel : IDisposable
{
    /// <summary>Makes at least <paramref name="count"/> bytes available; false when the peer closed cleanly before any of them.</summary>
    /// <param name="count">Bytes needed.</param>
    /// <param name="readAhead">At most this many bytes more are read, so a payload after a header can go straight to its destination.</param>
    bool TryFill(int count, int readAhead);

    /// <summary>The next <paramref name="count"/> buffered bytes; valid until the next receive.</summary>
    ReadOnlySpan<byte> Peek(int count);

    /// <summary>Marks buffered bytes as used.</summary>
    void Consume(int count);

    /// <summary>Receives exactly <paramref name="destination"/>.Length bytes: buffered ones first, the rest straight in.</summary>
    void ReadExact(Span<byte> destination);

    /// <summary>Sends all of <paramref name="data"/>; <paramref name="more"/> says another part of the same message follows at once.</summary>
    void Send(ReadOnlySpan<byte> data, bool more = false);

    /// <summary>Bounds each receive (handshake); zero waits for ever (transmission, where requests have their own timeout).</summary>
    void SetReceiveTimeout(TimeSpan timeout);

    /// <summary>Stops both directions: a blocked reader or writer wakes up with an error.</summary>
    void ShutdownBoth();
}
