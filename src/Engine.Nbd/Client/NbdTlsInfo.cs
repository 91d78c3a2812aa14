using Engine.Nbd.Transport.Tls;

namespace Engine.Nbd.Client;

/// <summary>How a connection is protected by TLS, as <c>nbdinfo</c> reports it ("with TLS").</summary>
/// <param name="Authentication">How the session was authenticated: <c>x509</c> or <c>psk</c>.</param>
/// <param name="Protocol">The negotiated protocol (<c>TLSv1.3</c>).</param>
/// <param name="Peer">For X.509, the server's certificate subject; for PSK, the identity the client proved.</param>
public sealed record NbdTlsInfo(string Authentication, string Protocol, TlsPeer Peer)
{
    internal static NbdTlsInfo Of(TlsSession session) => new(session.Authentication, session.Protocol, session.Peer);
}
