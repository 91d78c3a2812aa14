using Engine.Blocks.Native;

namespace Engine.Nbd.Transport.Tls.Psk;

/// <summary>
/// The <c>SSL_CTX</c> both sides share: TLS 1.2 or 1.3, PSK only. TLS 1.3 is what GnuTLS peers (nbdkit, qemu, libnbd)
/// negotiate with PSK; OpenSSL's legacy PSK callbacks serve it too, with a SHA-256 suite, which the default TLS 1.3
/// list keeps. TLS 1.2 offers ECDHE-PSK (forward secrecy) before plain PSK, for older peers. No session tickets: a
/// PSK connection is cheap to set up again, and tickets would let a session outlive the key file's lines.
/// </summary>
internal static class PskContext
{
    private const string Tls12Ciphers = "ECDHE-PSK:PSK:!RSAPSK:!DHEPSK:!aNULL:!eNULL";

    public static unsafe SslContextHandle Create(bool server)
    {
        var context = OpenSsl.SSL_CTX_new(server ? OpenSsl.TLS_server_method() : OpenSsl.TLS_client_method());
        if (context.IsInvalid)
        {
            context.Dispose();
            throw new NbdTlsException("OpenSSL cannot create a TLS context: " + (OpenSsl.TakeErrors() ?? "unknown error"));
        }

        try
        {
            if (!OpenSsl.SetMinimumProtocol(context, OpenSsl.TLS1_2_VERSION)
                || OpenSsl.SSL_CTX_set_cipher_list(context, Tls12Ciphers) != 1
                || OpenSsl.SSL_CTX_set_num_tickets(context, 0) != 1)
            {
                throw new NbdTlsException("OpenSSL refused the PSK settings: " + (OpenSsl.TakeErrors() ?? "unknown error"));
            }

            OpenSsl.SSL_CTX_set_options(context, OpenSsl.SSL_OP_IGNORE_UNEXPECTED_EOF);
            OpenSsl.SetMode(context, OpenSsl.SSL_MODE_ENABLE_PARTIAL_WRITE | OpenSsl.SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
            if (server)
            {
                OpenSsl.SSL_CTX_set_psk_server_callback(context, PskCallbacks.Server);
            }
            else
            {
                OpenSsl.SSL_CTX_set_psk_client_callback(context, PskCallbacks.Client);
            }

            return context;
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }
}
