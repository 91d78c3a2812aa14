using System.Runtime.InteropServices;

namespace Engine.Blocks.Native;

/// <summary>
/// The part of OpenSSL 3 an X.509 server on the socket needs: its certificate chain and key, the client certificate
/// request, and a verification callback that hands the client's certificates (as DER) to .NET's chain builder, so the
/// CA-only trust and the access checks stay the ones the rest of Engine uses. Macros of <c>ssl.h</c>
/// (<c>SSL_CTX_set_read_ahead</c>) are their <c>SSL_CTX_ctrl</c> calls; <c>sk_X509_*</c> are the
/// <c>OPENSSL_sk_*</c> functions they expand to.
/// </summary>
internal static unsafe partial class OpenSsl
{
    /// <summary><c>SSL_VERIFY_PEER</c>: the server asks for a client certificate and verifies one that is sent.</summary>
    public const int SSL_VERIFY_PEER = 0x01;

    /// <summary><c>SSL_VERIFY_FAIL_IF_NO_PEER_CERT</c>: a client that sends no certificate fails the handshake.</summary>
    public const int SSL_VERIFY_FAIL_IF_NO_PEER_CERT = 0x02;

    /// <summary><c>SSL_OP_CIPHER_SERVER_PREFERENCE</c>: the server's order of cipher suites wins over the client's.</summary>
    public const ulong SSL_OP_CIPHER_SERVER_PREFERENCE = 1UL << 22;

    /// <summary><c>SSL_OP_NO_RENEGOTIATION</c>: TLS 1.2 renegotiation (a second handshake mid-stream) is refused.</summary>
    public const ulong SSL_OP_NO_RENEGOTIATION = 1UL << 30;

    private const int SSL_CTRL_SET_READ_AHEAD = 41;

    [LibraryImport(Ssl, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SSL_CTX_use_certificate_chain_file(SslContextHandle context, string path);

    [LibraryImport(Ssl)]
    public static partial int SSL_CTX_use_PrivateKey(SslContextHandle context, nint key);

    [LibraryImport(Ssl)]
    public static partial int SSL_CTX_check_private_key(SslContextHandle context);

    [LibraryImport(Ssl)]
    public static partial void SSL_CTX_set_verify(SslContextHandle context, int mode, nint callback);

    /// <summary>Replaces OpenSSL's chain verification: <c>(X509_STORE_CTX*, arg) → 1 accept, 0 refuse</c>.</summary>
    [LibraryImport(Ssl)]
    public static partial void SSL_CTX_set_cert_verify_callback(SslContextHandle context, delegate* unmanaged<nint, nint, int> callback, nint argument);

    /// <summary>The CA names a CertificateRequest lists, so a client with several certificates picks the right one.</summary>
    [LibraryImport(Ssl, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint SSL_load_client_CA_file(string path);

    /// <summary>Takes ownership of <paramref name="names"/>.</summary>
    [LibraryImport(Ssl)]
    public static partial void SSL_CTX_set_client_CA_list(SslContextHandle context, nint names);

    [LibraryImport(Ssl)]
    public static partial int SSL_get_ex_data_X509_STORE_CTX_idx();

    [LibraryImport(Crypto)]
    public static partial nint d2i_AutoPrivateKey(nint type, byte** data, long length);

    [LibraryImport(Crypto)]
    public static partial void EVP_PKEY_free(nint key);

    [LibraryImport(Crypto)]
    public static partial nint X509_STORE_CTX_get_ex_data(nint context, int index);

    [LibraryImport(Crypto)]
    public static partial nint X509_STORE_CTX_get0_cert(nint context);

    [LibraryImport(Crypto)]
    public static partial nint X509_STORE_CTX_get0_untrusted(nint context);

    [LibraryImport(Crypto)]
    public static partial int OPENSSL_sk_num(nint stack);

    [LibraryImport(Crypto)]
    public static partial nint OPENSSL_sk_value(nint stack, int index);

    /// <summary>The DER length of <paramref name="certificate"/> when <paramref name="output"/> is null; else writes it there and advances the pointer.</summary>
    [LibraryImport(Crypto)]
    public static partial int i2d_X509(nint certificate, byte** output);

    /// <summary><c>SSL_CTX_set_read_ahead</c>: one receive fetches as many records as the socket holds (a burst of requests costs one syscall).</summary>
    public static void SetReadAhead(SslContextHandle context) => SSL_CTX_ctrl(context, SSL_CTRL_SET_READ_AHEAD, 1, 0);

    /// <summary>The DER bytes of an <c>X509*</c>.</summary>
    public static byte[] Der(nint certificate)
    {
        var length = i2d_X509(certificate, null);
        if (length <= 0)
        {
            return [];
        }

        var der = new byte[length];
        fixed (byte* start = der)
        {
            var cursor = start;
            _ = i2d_X509(certificate, &cursor);
        }

        return der;
    }

    /// <summary>Makes <paramref name="pkcs8"/> (a DER private key) the context's key; false if OpenSSL refused it.</summary>
    public static bool UsePrivateKey(SslContextHandle context, ReadOnlySpan<byte> pkcs8)
    {
        fixed (byte* start = pkcs8)
        {
            var cursor = start;
            var key = d2i_AutoPrivateKey(0, &cursor, pkcs8.Length);
            if (key == 0)
            {
                return false;
            }

            try
            {
                // The context takes its own reference to the key.
                return SSL_CTX_use_PrivateKey(context, key) == 1;
            }
            finally
            {
                EVP_PKEY_free(key);
            }
        }
    }
}
