namespace Engine.Nbd.Transport;

/// <summary>The peer went away or broke the protocol; the connection ends. Expected, not an error to report loudly.</summary>
internal sealed class ConnectionClosedException(string message, bool clean = false, ConnectionCloseReason reason = ConnectionCloseReason.PeerClosed) : IOException(message)
{
    /// <summary>True when the peer closed at a message boundary, the normal way for a client to leave.</summary>
    public bool Clean { get; } = clean;

    /// <summary>Why the connection ends, for the connection's close record.</summary>
    public ConnectionCloseReason Reason { get; } = clean ? ConnectionCloseReason.ClientDisconnected : reason;
}
