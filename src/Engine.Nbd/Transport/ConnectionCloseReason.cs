namespace Engine.Nbd.Transport;

/// <summary>
/// Why a connection closed, recorded once (the first reason wins) and logged with the detail text. Ordered roughly
/// from the normal ways to leave to the failures.
/// </summary>
internal enum ConnectionCloseReason
{
    /// <summary>Still open, or no reason recorded.</summary>
    None,

    /// <summary>The client ended the session the normal way: NBD_CMD_DISC, or closing between messages.</summary>
    ClientDisconnected,

    /// <summary>The client sent NBD_OPT_ABORT during the handshake.</summary>
    ClientAborted,

    /// <summary>The peer closed or reset the connection in the middle of a message.</summary>
    PeerClosed,

    /// <summary>The peer stopped reading; replies could not be sent.</summary>
    SendFailed,

    /// <summary>The client broke the protocol (bad magic, unknown flags, too many options, hostile lengths).</summary>
    ProtocolError,

    /// <summary>The handshake did not finish within the handshake timeout.</summary>
    HandshakeTimedOut,

    /// <summary>The client tried to enter transmission in clear text while the server requires TLS.</summary>
    TlsRequired,

    /// <summary>The TLS handshake after NBD_OPT_STARTTLS failed (no or untrusted client certificate, wrong PSK).</summary>
    TlsFailed,

    /// <summary>The client asked for an export its identity is not admitted to (<c>--allow</c>, <c>--allow-uid</c>).</summary>
    AccessDenied,

    /// <summary>The client asked for an export that does not exist, where the protocol has no error reply.</summary>
    UnknownExport,

    /// <summary>The server is stopping.</summary>
    ServerShutdown,

    /// <summary>The server aborted the connection (stop deadline passed).</summary>
    Aborted,

    /// <summary>An unexpected failure inside the server.</summary>
    InternalError,
}
