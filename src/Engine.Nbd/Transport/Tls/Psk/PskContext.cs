using Engine.Blocks.Native;

namespace Engine.Nbd.Transport.Tls.Psk;

/// <summary>
/// The <c>SSL_CTX</c> both PSK sides share: <see cref="OpenSslContext"/>'s, PSK only. TLS 1.3 is what GnuTLS peers
/// (nbdkit, qemu, libnbd) negotiate with PSK; OpenSSL's legacy PSK callbacks serve it too, with a SHA-256 suite, which
/// the default TLS 1.3 list keeps. TLS 1.2 offers ECDHE-PSK (forward secrecy) before plain PSK, for older peers. No
/// session tickets: a PSK connection is cheap to set up again, and tickets would let a session outlive the key file's
/// lines.
/// </summary>
internal static class PskContext
{
    private const string Tls12Ciphers = "ECDHE-PSK:PSK:!RSAPSK:!DHEPSK:!aNULL:!eNULL";

    /// <exception cref="NbdTlsException">OpenSSL (libssl3) is missing or refused the settings.</exception>
    public static unsafe SslContextHandle Create(bool server) => OpenSslContext.Create(server, "TLS-PSK", context =>
    {
        if (OpenSsl.SSL_CTX_set_cipher_list(context, Tls12Ciphers) != 1)
        {
            throw OpenSslContext.Refused("OpenSSL refused the PSK settings");
        }

        if (server)
        {
            OpenSsl.SSL_CTX_set_psk_server_callback(context, PskCallbacks.Server);
        }
        else
        {
            OpenSsl.SSL_CTX_set_psk_client_callback(context, PskCallbacks.Client);
        }
    });
}
