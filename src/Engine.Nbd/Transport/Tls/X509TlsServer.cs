using System.Formats.Asn1;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Engine.Blocks.Native;

namespace Engine.Nbd.Transport.Tls;

/// <summary>
/// The server side of NBD_OPT_STARTTLS with X.509 certificates, loaded once from the directory layout qemu, nbdkit
/// and libnbd share: <c>ca-cert.pem</c>, <c>server-cert.pem</c>, <c>server-key.pem</c>. The server always asks for a
/// client certificate; one that chains to <c>ca-cert.pem</c> (and only to it, never to the system's roots) becomes
/// the session's <see cref="TlsPeer"/>. With <c>verifyPeer</c> a client without such a certificate fails the
/// handshake; without it, the client proceeds anonymously, and a certificate from another CA proves nothing.
/// <para>
/// The session runs in OpenSSL on the socket's descriptor (<see cref="OpenSslStream"/>, as PSK does), not in
/// SslStream: SslStream drives OpenSSL through memory BIOs, so every record is copied once more and sent in a call of
/// its own, and that was most of the server's CPU over TLS (bench/RESULTS.md). The files are still read and checked by
/// .NET first (so a bad file is named, and certtool's zero-padded EC keys load), then handed to OpenSSL; the client's
/// certificate is judged by <see cref="ClientCertificateCheck"/>. TLS 1.3 prefers AES-128-GCM (the server's order
/// wins): as safe as AES-256-GCM for a session key and a third less CPU per byte with AES-NI.
/// </para>
/// </summary>
public sealed class X509TlsServer : INbdTlsServer, IDisposable
{
    /// <summary>The CA certificate file in the credentials directory.</summary>
    public const string CaCertificateFile = "ca-cert.pem";

    /// <summary>The server certificate file (with any intermediates after it).</summary>
    public const string ServerCertificateFile = "server-cert.pem";

    /// <summary>The server's private key file.</summary>
    public const string ServerKeyFile = "server-key.pem";

    /// <summary>TLS 1.3 suites in the server's order of preference: AES-128-GCM first (see the class remarks).</summary>
    private const string Tls13Suites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

    private readonly SslContextHandle _context;
    private readonly X509Certificate2Collection _authorities;
    private readonly bool _verifyPeer;

    private X509TlsServer(SslContextHandle context, X509Certificate2Collection authorities, bool verifyPeer)
    {
        _context = context;
        _authorities = authorities;
        _verifyPeer = verifyPeer;
    }

    /// <summary>Whether clients must present a certificate signed by the CA.</summary>
    public bool VerifyPeer => _verifyPeer;

    /// <summary>Loads the credentials in <paramref name="directory"/>.</summary>
    /// <param name="directory">Holds <c>server-cert.pem</c> and <c>server-key.pem</c>, and <c>ca-cert.pem</c> (required with <paramref name="verifyPeer"/>).</param>
    /// <param name="verifyPeer">Refuse clients without a certificate signed by <c>ca-cert.pem</c>.</param>
    /// <exception cref="FileNotFoundException">A file the credentials need is missing or unreadable; the message names it.</exception>
    /// <exception cref="NbdTlsException">A file is not what it should be (no certificate, a key that does not match); the message names it.</exception>
    public static X509TlsServer Load(string directory, bool verifyPeer)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!Directory.Exists(directory))
        {
            throw new FileNotFoundException($"TLS certificates directory {directory} does not exist", directory);
        }

        var certificatePath = Path.Combine(directory, ServerCertificateFile);
        var keyPath = Path.Combine(directory, ServerKeyFile);
        var caPath = Path.Combine(directory, CaCertificateFile);
        RequireReadable(certificatePath);
        RequireReadable(keyPath);
        var authorities = new X509Certificate2Collection();
        if (verifyPeer || File.Exists(caPath))
        {
            RequireReadable(caPath);
            try
            {
                authorities.ImportFromPemFile(caPath);
            }
            catch (CryptographicException ex)
            {
                throw new NbdTlsException($"{caPath}: not a PEM certificate file ({ex.Message})", ex);
            }

            if (authorities.Count == 0)
            {
                throw new NbdTlsException($"{caPath}: holds no certificate");
            }
        }

        X509Certificate2 certificate;
        try
        {
            certificate = TlsCertificateDirectory.LoadPair(certificatePath, keyPath);
        }
        catch (Exception ex) when (ex is CryptographicException or FormatException or AsnContentException)
        {
            throw new NbdTlsException($"{certificatePath} with {keyPath}: not a certificate and its matching private key ({ex.Message})", ex);
        }

        if (!certificate.HasPrivateKey)
        {
            certificate.Dispose();
            throw new NbdTlsException($"{keyPath}: holds no private key for {certificatePath}");
        }

        try
        {
            var context = CreateContext(certificatePath, certificate, caPath, authorities.Count > 0, verifyPeer);
            return new X509TlsServer(context, authorities, verifyPeer);
        }
        catch
        {
            foreach (var authority in authorities)
            {
                authority.Dispose();
            }

            throw;
        }
        finally
        {
            certificate.Dispose();
        }
    }

    /// <inheritdoc/>
    public async ValueTask<TlsSession> AcceptAsync(Socket socket, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var check = new ClientCertificateCheck(_authorities, _verifyPeer);
        var stream = new OpenSslStream(socket, _context, check);
        try
        {
            var failure = await stream.HandshakeAsync(server: true, cancellationToken).ConfigureAwait(false);
            if (failure is not null)
            {
                throw new NbdTlsException(check.Explain(failure));
            }

            return new TlsSession(stream, check.Peer, stream.Protocol, "x509");
        }
        catch (Exception ex) when (ex is IOException and not NbdTlsException or OperationCanceledException)
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw new NbdTlsException(check.Explain(ex.Message), ex);
        }
        catch
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _context.Dispose();
        foreach (var authority in _authorities)
        {
            authority.Dispose();
        }
    }

    /// <summary>
    /// The OpenSSL context: the chain of <paramref name="certificatePath"/> (intermediates after the leaf go out with
    /// it), the key .NET loaded with <paramref name="certificate"/>, a request for a client certificate naming the
    /// CA, and <see cref="ClientCertificateCheck"/> as the judge of what the client sends.
    /// </summary>
    private static SslContextHandle CreateContext(string certificatePath, X509Certificate2 certificate, string caPath, bool haveCa, bool verifyPeer)
    {
        var key = PrivateKeyOf(certificate);
        try
        {
            return OpenSslContext.Create(server: true, "TLS", context =>
            {
                if (OpenSsl.SSL_CTX_set_ciphersuites(context, Tls13Suites) != 1)
                {
                    throw OpenSslContext.Refused("OpenSSL refused the TLS 1.3 cipher suites");
                }

                OpenSsl.SSL_CTX_set_options(context, OpenSsl.SSL_OP_CIPHER_SERVER_PREFERENCE);
                if (OpenSsl.SSL_CTX_use_certificate_chain_file(context, certificatePath) != 1)
                {
                    throw OpenSslContext.Refused($"{certificatePath}: OpenSSL cannot use the certificate");
                }

                if (!OpenSsl.UsePrivateKey(context, key) || OpenSsl.SSL_CTX_check_private_key(context) != 1)
                {
                    throw OpenSslContext.Refused($"{certificatePath}: OpenSSL cannot use its private key");
                }

                SetClientVerification(context, caPath, haveCa, verifyPeer);
            });
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    private static unsafe void SetClientVerification(SslContextHandle context, string caPath, bool haveCa, bool verifyPeer)
    {
        // Always ask (a certificate names the client for --allow); require one only under verify-peer.
        OpenSsl.SSL_CTX_set_verify(context, OpenSsl.SSL_VERIFY_PEER | (verifyPeer ? OpenSsl.SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), 0);
        OpenSsl.SSL_CTX_set_cert_verify_callback(context, ClientCertificateCheck.Callback, 0);
        if (haveCa && OpenSsl.SSL_load_client_CA_file(caPath) is var names and not 0)
        {
            OpenSsl.SSL_CTX_set_client_CA_list(context, names);
        }

        OpenSsl.ERR_clear_error();
    }

    /// <summary>The certificate's private key as PKCS#8 DER, for OpenSSL; the caller wipes it.</summary>
    private static byte[] PrivateKeyOf(X509Certificate2 certificate)
    {
        using AsymmetricAlgorithm? key = (AsymmetricAlgorithm?)certificate.GetECDsaPrivateKey() ?? certificate.GetRSAPrivateKey();
        return key?.ExportPkcs8PrivateKey() ?? throw new NbdTlsException($"{certificate.Subject}: only EC and RSA server keys are supported");
    }

    private static void RequireReadable(string path)
    {
        try
        {
            using var _ = File.OpenRead(path);
        }
        catch (FileNotFoundException)
        {
            throw new FileNotFoundException($"{path} does not exist", path);
        }
        catch (DirectoryNotFoundException)
        {
            throw new FileNotFoundException($"{path} does not exist", path);
        }
        catch (UnauthorizedAccessException)
        {
            throw new FileNotFoundException($"{path} is not readable (permission denied)", path);
        }
    }
}
