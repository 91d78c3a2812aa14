using System.Net.Sockets;

namespace Engine.Nbd.Transport.Tls;

/// <summary>
/// The server's half of NBD_OPT_STARTTLS: after the server has answered the option with NBD_REP_ACK, it turns the
/// accepted socket into a TLS session. One instance serves every connection (credentials are loaded once).
/// </summary>
public interface INbdTlsServer
{
    /// <summary>Runs the TLS handshake as the server on <paramref name="socket"/>.</summary>
    /// <exception cref="NbdTlsException">The handshake failed: the message says why (no client certificate under verify-peer, a certificate from another CA, an unknown PSK identity or a wrong key).</exception>
    ValueTask<TlsSession> AcceptAsync(Socket socket, CancellationToken cancellationToken);
}
