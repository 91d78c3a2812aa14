using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Engine.Blocks.Native;

namespace Engine.Nbd.Transport.Tls;

/// <summary>
/// One X.509 handshake's verdict on the client certificate, and the peer it proves. OpenSSL calls
/// <see cref="Callback"/> in place of its own chain verification (<c>SSL_CTX_set_cert_verify_callback</c>) with the
/// certificates the client sent; they are judged by .NET's chain builder against <c>ca-cert.pem</c> alone (never the
/// system's roots), with the client-authentication usage required, as before the server moved onto OpenSSL. A
/// certificate the CA did not sign is refused under verify-peer and proves nothing otherwise (anonymous client).
/// </summary>
internal sealed class ClientCertificateCheck(X509Certificate2Collection authorities, bool verifyPeer)
{
    /// <summary>
    /// OpenSSL's reason when a client sent no certificate under <c>SSL_VERIFY_FAIL_IF_NO_PEER_CERT</c>
    /// (<c>SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE</c>).
    /// </summary>
    private const string NoCertificateReason = "peer did not return a certificate";

    /// <summary>The verification callback, for <see cref="OpenSsl.SSL_CTX_set_cert_verify_callback"/>.</summary>
    public static unsafe delegate* unmanaged<nint, nint, int> Callback => &Verify;

    /// <summary>Who the certificate proved the client to be; anonymous until a CA-signed certificate was seen.</summary>
    public TlsPeer Peer { get; private set; } = TlsPeer.Anonymous;

    /// <summary>Why the client was refused, for the exception; null if this check did not refuse it.</summary>
    public string? Refusal { get; private set; }

    /// <summary>Why a handshake that failed with OpenSSL's <paramref name="reason"/> failed, in the words the log uses.</summary>
    public string Explain(string reason) =>
        Refusal ?? (verifyPeer && reason.Contains(NoCertificateReason, StringComparison.Ordinal)
            ? "the client sent no certificate, and --tls-verify-peer requires one"
            : $"TLS handshake failed: {reason}");

    /// <summary>Judges the client's certificate <paramref name="leaf"/>, with the others it sent as possible intermediates.</summary>
    private bool Validate(byte[] leaf, List<byte[]> presented)
    {
        using var client = X509CertificateLoader.LoadCertificate(leaf);
        if (!IsSignedByCa(client, presented))
        {
            Refusal = verifyPeer ? $"the client certificate '{client.Subject}' is not signed by the CA in {X509TlsServer.CaCertificateFile}" : null;
            return !verifyPeer;
        }

        Peer = new TlsPeer(client.Subject, TlsCertificateDirectory.CommonName(client), null);
        return true;
    }

    /// <summary>True if <paramref name="certificate"/> chains to one of our CA certificates, and only ours.</summary>
    private bool IsSignedByCa(X509Certificate2 certificate, List<byte[]> presented)
    {
        if (authorities.Count == 0)
        {
            return false;
        }

        using var chain = new X509Chain();
        TlsCertificateDirectory.TrustOnly(chain, authorities, TlsCertificateDirectory.ClientAuthentication);
        var extras = new X509Certificate2Collection();
        try
        {
            foreach (var der in presented)
            {
                extras.Add(X509CertificateLoader.LoadCertificate(der));
            }

            chain.ChainPolicy.ExtraStore.AddRange(extras);
            return chain.Build(certificate);
        }
        finally
        {
            foreach (var extra in extras)
            {
                extra.Dispose();
            }
        }
    }

    [UnmanagedCallersOnly]
    private static int Verify(nint storeContext, nint argument)
    {
        ClientCertificateCheck? check = null;
        try
        {
            var ssl = OpenSsl.X509_STORE_CTX_get_ex_data(storeContext, OpenSsl.SSL_get_ex_data_X509_STORE_CTX_idx());
            var state = ssl == 0 ? 0 : OpenSsl.SSL_get_ex_data(ssl, OpenSslStream.StateSlot);
            check = state == 0 ? null : Unsafe.As<ClientCertificateCheck>(GCHandle.FromIntPtr(state).Target);
            var leaf = OpenSsl.X509_STORE_CTX_get0_cert(storeContext);
            if (check is null || leaf == 0)
            {
                return 0;
            }

            // The untrusted stack is everything the client sent, its own certificate first.
            var presented = new List<byte[]>();
            var untrusted = OpenSsl.X509_STORE_CTX_get0_untrusted(storeContext);
            var count = untrusted == 0 ? 0 : OpenSsl.OPENSSL_sk_num(untrusted);
            for (var i = 1; i < count; i++)
            {
                presented.Add(OpenSsl.Der(OpenSsl.OPENSSL_sk_value(untrusted, i)));
            }

            return check.Validate(OpenSsl.Der(leaf), presented) ? 1 : 0;
        }
        catch (CryptographicException ex)
        {
            if (check is not null)
            {
                check.Refusal = $"the client certificate cannot be read: {ex.Message}";
            }

            return 0;
        }
#pragma warning disable CA1031 // nothing may unwind into OpenSSL; refusing fails the handshake, which then reports
        catch (Exception)
#pragma warning restore CA1031
        {
            return 0;
        }
    }
}
