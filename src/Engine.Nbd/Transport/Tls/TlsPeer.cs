namespace Engine.Nbd.Transport.Tls;

/// <summary>
/// Who is at the other end of a TLS session, as the handshake proved it: a certificate's subject or a PSK identity.
/// Access control (<c>--allow</c>) matches against these; messages name them.
/// </summary>
/// <param name="Subject">The peer certificate's subject distinguished name (<c>CN=client,O=Example</c>), or null.</param>
/// <param name="CommonName">The certificate subject's CN, or null.</param>
/// <param name="PskIdentity">The PSK user name the peer authenticated as, or null.</param>
public sealed record TlsPeer(string? Subject, string? CommonName, string? PskIdentity)
{
    /// <summary>A peer that proved nothing (X.509 without a client certificate).</summary>
    public static TlsPeer Anonymous { get; } = new(null, null, null);

    /// <inheritdoc/>
    public override string ToString() =>
        PskIdentity is not null ? $"PSK user '{PskIdentity}'" : Subject is not null ? $"certificate '{Subject}'" : "anonymous peer";
}
