namespace Engine.Nbd.Server;

/// <summary>Whether the server offers TLS during the handshake, as nbdkit's <c>--tls</c>.</summary>
public enum NbdTlsMode
{
    /// <summary>No TLS: NBD_OPT_STARTTLS is refused with NBD_REP_ERR_POLICY (the spec's NOTLS mode).</summary>
    Off,

    /// <summary>TLS is offered; clients may also proceed in clear text.</summary>
    On,

    /// <summary>
    /// TLS is required (the spec's FORCEDTLS mode): every option but STARTTLS and ABORT is refused with
    /// NBD_REP_ERR_TLS_REQD until TLS is up, so no export name, size or data goes out in clear text.
    /// </summary>
    Require,
}
