using System.Formats.Asn1;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Engine.Nbd.Transport.Tls;

/// <summary>
/// The server side of NBD_OPT_STARTTLS with X.509 certificates, loaded once from the directory layout qemu, nbdkit
/// and libnbd share: <c>ca-cert.pem</c>, <c>server-cert.pem</c>, <c>server-key.pem</c>. The server always asks for a
/// client certificate; one that chains to <c>ca-cert.pem</c> (and only to it, never to the system's roots) becomes
/// the session's <see cref="TlsPeer"/>. With <c>verifyPeer</c> a client without such a certificate fails the
/// handshake; without it, the client proceeds anonymously, and a certificate from another CA proves nothing.
/// </summary>
public sealed class X509TlsServer : INbdTlsServer, IDisposable
{
    /// <summary>The CA certificate file in the credentials directory.</summary>
    public const string CaCertificateFile = "ca-cert.pem";

    /// <summary>The server certificate file (with any intermediates after it).</summary>
    public const string ServerCertificateFile = "server-cert.pem";

    /// <summary>The server's private key file.</summary>
    public const string ServerKeyFile = "server-key.pem";

    private readonly X509Certificate2 _certificate;
    private readonly SslStreamCertificateContext _context;
    private readonly X509Certificate2Collection _authorities;
    private readonly bool _verifyPeer;

    private X509TlsServer(X509Certificate2 certificate, SslStreamCertificateContext context, X509Certificate2Collection authorities, bool verifyPeer)
    {
        _certificate = certificate;
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

        // Intermediates after the leaf in server-cert.pem go out with it, so that clients can build the chain.
        var chain = new X509Certificate2Collection();
        chain.ImportFromPemFile(certificatePath);
        var intermediates = new X509Certificate2Collection();
        for (var i = 1; i < chain.Count; i++)
        {
            intermediates.Add(chain[i]);
        }

        var context = SslStreamCertificateContext.Create(certificate, intermediates, offline: true);
        return new X509TlsServer(certificate, context, authorities, verifyPeer);
    }

    /// <inheritdoc/>
    public async ValueTask<TlsSession> AcceptAsync(Socket socket, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var check = new ClientCheck(this);
        // Straight syscalls on the caller's thread rather than a NetworkStream: see BlockingSocketStream.
        var inner = new BlockingSocketStream(socket);
        var ssl = new SslStream(inner, leaveInnerStreamOpen: false);
        try
        {
            var options = new SslServerAuthenticationOptions
            {
                ServerCertificateContext = _context,
                ClientCertificateRequired = true,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                RemoteCertificateValidationCallback = check.Validate,
            };
            await ssl.AuthenticateAsServerAsync(options, cancellationToken).ConfigureAwait(false);
            return new TlsSession(ssl, check.Peer, TlsCertificateDirectory.ProtocolName(ssl.SslProtocol), "x509") { SendCork = inner };
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException or OperationCanceledException)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw new NbdTlsException(check.Refusal ?? $"TLS handshake failed: {ex.Message}", ex);
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _certificate.Dispose();
        foreach (var authority in _authorities)
        {
            authority.Dispose();
        }
    }

    /// <summary>True if <paramref name="certificate"/> chains to one of our CA certificates, and only ours.</summary>
    private bool IsSignedByCa(X509Certificate2 certificate, X509Chain? presented)
    {
        if (_authorities.Count == 0)
        {
            return false;
        }

        using var chain = new X509Chain();
        TlsCertificateDirectory.TrustOnly(chain, _authorities, TlsCertificateDirectory.ClientAuthentication);
        if (presented is not null)
        {
            foreach (var element in presented.ChainElements)
            {
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        return chain.Build(certificate);
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

    /// <summary>One handshake's verdict on the client certificate, and the peer it proves.</summary>
    private sealed class ClientCheck(X509TlsServer server)
    {
        public TlsPeer Peer { get; private set; } = TlsPeer.Anonymous;

        /// <summary>Why the client was refused, for the exception; null if it was not.</summary>
        public string? Refusal { get; private set; }

        public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
        {
            if (certificate is null)
            {
                Refusal = server._verifyPeer ? "the client sent no certificate, and --tls-verify-peer requires one" : null;
                return !server._verifyPeer;
            }

            var client = certificate as X509Certificate2 ?? new X509Certificate2(certificate);
            if (!server.IsSignedByCa(client, chain))
            {
                // A certificate the CA did not sign proves nothing: refused under verify-peer, anonymous otherwise.
                Refusal = server._verifyPeer ? $"the client certificate '{client.Subject}' is not signed by the CA in {CaCertificateFile}" : null;
                return !server._verifyPeer;
            }

            Peer = new TlsPeer(client.Subject, TlsCertificateDirectory.CommonName(client), null);
            return true;
        }
    }
}
