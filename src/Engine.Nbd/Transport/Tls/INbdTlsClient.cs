using System.Net.Sockets;

namespace Engine.Nbd.Transport.Tls;

/// <summary>
/// The client's half of NBD_OPT_STARTTLS: after the server acknowledged the option, turns the connected socket into a
/// TLS session, checking the server as the credentials say.
/// </summary>
public interface INbdTlsClient
{
    /// <summary>Runs the TLS handshake as the client on <paramref name="socket"/>; <paramref name="hostname"/> is checked against the server's certificate (null: not checked).</summary>
    /// <exception cref="NbdTlsException">The handshake failed: the message says why (the server's certificate is not signed by the CA, the name does not match, the PSK was refused).</exception>
    ValueTask<TlsSession> ConnectAsync(Socket socket, string? hostname, CancellationToken cancellationToken);
}
