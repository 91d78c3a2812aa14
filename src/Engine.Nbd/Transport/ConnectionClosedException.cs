namespace Engine.Nbd.Transport;

/// <summary>The peer went away or broke the protocol; the connection ends. Expected, not an error to report loudly.</summary>
internal sealed class ConnectionClosedException(string reason, bool clean = false) : IOException(reason)
{
    /// <summary>True when the peer closed at a message boundary, the normal way for a client to leave.</summary>
    public bool Clean { get; } = clean;
}
