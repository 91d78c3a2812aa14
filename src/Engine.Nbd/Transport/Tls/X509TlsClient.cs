using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Engine.Nbd.Transport.Tls;

/// <summary>
/// The X.509 client of NBD_OPT_STARTTLS, on <see cref="SslStream"/>. The server's certificate must chain to the CA in
/// the certificates directory's <c>ca-cert.pem</c> (custom root trust: the system store plays no part), or to a
/// system CA when no directory is given; <c>client-cert.pem</c>/<c>client-key.pem</c> are offered when present.
/// With verification off, any certificate is accepted (the session is encrypted but the server is unproven).
/// One instance serves every connection of a client: credentials are loaded once.
/// </summary>
internal sealed class X509TlsClient : INbdTlsClient
{
    private readonly X509Certificate2Collection? _ca;
    private readonly string? _caPath;
    private readonly X509Certificate2? _own;
    private readonly bool _verifyPeer;

    /// <summary>Loads the credentials.</summary>
    /// <param name="certificatesDirectory">The <c>tls-certificates</c> directory; null: the system's CAs and no client certificate.</param>
    /// <param name="verifyPeer">Whether the server's certificate is checked.</param>
    /// <exception cref="NbdTlsException">A file of the directory is missing or unreadable; the message names it.</exception>
    public X509TlsClient(string? certificatesDirectory, bool verifyPeer)
    {
        _verifyPeer = verifyPeer;
        if (certificatesDirectory is null)
        {
            return;
        }

        _own = TlsCertificateDirectory.LoadOwn(certificatesDirectory, "client");
        if (verifyPeer)
        {
            _ca = TlsCertificateDirectory.LoadCa(certificatesDirectory);
            _caPath = Path.Combine(certificatesDirectory, TlsCertificateDirectory.CaFile);
        }
    }

    /// <inheritdoc/>
    public async ValueTask<TlsSession> ConnectAsync(Socket socket, string? hostname, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(socket);
        string? refusal = null;
        var stream = new SslStream(new ReadAheadStream(new NetworkStream(socket, ownsSocket: false)), leaveInnerStreamOpen: false);
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = hostname ?? string.Empty,
            ClientCertificates = _own is null ? null : [_own],
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = (_, certificate, _, errors) => (refusal = Check(certificate, hostname, errors)) is null,
        };

        try
        {
            await stream.AuthenticateAsClientAsync(options, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException)
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw new NbdTlsException(refusal ?? $"the TLS handshake failed: {Innermost(ex).Message}", ex);
        }
        catch
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        var peer = stream.RemoteCertificate is X509Certificate2 server
            ? new TlsPeer(server.Subject, TlsCertificateDirectory.CommonName(server), null)
            : TlsPeer.Anonymous;
        return new TlsSession(stream, peer, TlsCertificateDirectory.ProtocolName(stream.SslProtocol), "x509");
    }

    /// <summary>Null when the server's certificate is acceptable, else why not.</summary>
    private string? Check(X509Certificate? certificate, string? hostname, SslPolicyErrors errors)
    {
        if (!_verifyPeer)
        {
            return null;
        }

        if (certificate is null)
        {
            return "the server sent no certificate";
        }

        var server = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        if (_ca is null)
        {
            if ((errors & SslPolicyErrors.RemoteCertificateChainErrors) != 0)
            {
                return $"the server's certificate '{server.Subject}' is not signed by a CA this system trusts (give tls-certificates=DIR with the CA's ca-cert.pem)";
            }
        }
        else
        {
            using var chain = new X509Chain();
            TlsCertificateDirectory.TrustOnly(chain, _ca, TlsCertificateDirectory.ServerAuthentication);
            if (!chain.Build(server))
            {
                var expired = chain.ChainStatus.Any(s => s.Status.HasFlag(X509ChainStatusFlags.NotTimeValid));
                return expired
                    ? $"the server's certificate '{server.Subject}' has expired or is not yet valid (checked against the CA in {_caPath})"
                    : $"the server's certificate '{server.Subject}' is not signed by the CA in {_caPath} for use by a TLS server";
            }
        }

        if (hostname is not null && (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            return $"the server's certificate '{server.Subject}' is not valid for the host name '{hostname}' (set tls-hostname=NAME to check another name)";
        }

        return null;
    }

    private static Exception Innermost(Exception ex) => ex.InnerException is { } inner ? Innermost(inner) : ex;
}
