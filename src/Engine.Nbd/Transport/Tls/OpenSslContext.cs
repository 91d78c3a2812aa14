using Engine.Blocks.Native;

namespace Engine.Nbd.Transport.Tls;

/// <summary>
/// An <c>SSL_CTX</c> with what every OpenSSL session of Engine shares (the PSK client and server, the X.509 server):
/// TLS 1.2 at least, no session tickets, whole writes over a non-blocking descriptor (<see cref="OpenSslStream"/>),
/// read-ahead, and a peer closing without close_notify read as end of stream (the NBD framing above catches
/// truncation). The caller adds its authentication. A missing libssl becomes a message naming the Debian package,
/// not the runtime's DllNotFoundException text.
/// </summary>
internal static class OpenSslContext
{
    /// <summary>Creates the context and applies <paramref name="configure"/> to it; disposed again if that throws.</summary>
    /// <exception cref="NbdTlsException">OpenSSL is missing or refused a setting.</exception>
    public static SslContextHandle Create(bool server, string purpose, Action<SslContextHandle> configure)
    {
        try
        {
            return CreateCore(server, configure);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            throw new NbdTlsException($"{purpose} needs OpenSSL 3 (libssl.so.3): install the Debian package libssl3", e);
        }
    }

    /// <summary>An <see cref="NbdTlsException"/> with <paramref name="what"/> and this thread's OpenSSL errors.</summary>
    public static NbdTlsException Refused(string what) => new($"{what}: {OpenSsl.TakeErrors() ?? "unknown error"}");

    private static SslContextHandle CreateCore(bool server, Action<SslContextHandle> configure)
    {
        var context = OpenSsl.SSL_CTX_new(server ? OpenSsl.TLS_server_method() : OpenSsl.TLS_client_method());
        if (context.IsInvalid)
        {
            context.Dispose();
            throw Refused("OpenSSL cannot create a TLS context");
        }

        try
        {
            if (!OpenSsl.SetMinimumProtocol(context, OpenSsl.TLS1_2_VERSION) || OpenSsl.SSL_CTX_set_num_tickets(context, 0) != 1)
            {
                throw Refused("OpenSSL refused the TLS settings");
            }

            OpenSsl.SSL_CTX_set_options(context, OpenSsl.SSL_OP_IGNORE_UNEXPECTED_EOF | OpenSsl.SSL_OP_NO_RENEGOTIATION);
            OpenSsl.SetMode(context, OpenSsl.SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
            OpenSsl.SetReadAhead(context);
            configure(context);
            return context;
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }
}
