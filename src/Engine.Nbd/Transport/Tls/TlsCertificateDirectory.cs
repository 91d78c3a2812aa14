using System.Formats.Asn1;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Engine.Nbd.Transport.Tls;

/// <summary>
/// The certificate directory layout nbdkit, qemu and libnbd share: <c>ca-cert.pem</c>, and the side's own
/// <c>{client,server}-cert.pem</c> with <c>{client,server}-key.pem</c>. Errors name the file.
/// </summary>
internal static class TlsCertificateDirectory
{
    public const string CaFile = "ca-cert.pem";

    /// <summary>The CA certificates of <paramref name="directory"/>'s <c>ca-cert.pem</c>.</summary>
    /// <exception cref="NbdTlsException">The file is missing, unreadable or holds no certificate.</exception>
    public static X509Certificate2Collection LoadCa(string directory)
    {
        var path = Path.Combine(directory, CaFile);
        if (!File.Exists(path))
        {
            throw new NbdTlsException(Directory.Exists(directory)
                ? $"{path} does not exist (the TLS certificates directory needs the CA certificate there)"
                : $"TLS certificates directory {directory} does not exist");
        }

        var certificates = new X509Certificate2Collection();
        try
        {
            certificates.ImportFromPemFile(path);
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new NbdTlsException($"{path}: cannot read the CA certificate: {ex.Message}", ex);
        }

        return certificates.Count > 0 ? certificates : throw new NbdTlsException($"{path} holds no PEM certificate");
    }

    /// <summary>The certificate and key <c>{role}-cert.pem</c>/<c>{role}-key.pem</c>; null when the certificate file is absent.</summary>
    /// <exception cref="NbdTlsException">The key is missing, or either file cannot be read or does not match.</exception>
    public static X509Certificate2? LoadOwn(string directory, string role)
    {
        var certificate = Path.Combine(directory, $"{role}-cert.pem");
        var key = Path.Combine(directory, $"{role}-key.pem");
        if (!File.Exists(certificate))
        {
            return null;
        }

        if (!File.Exists(key))
        {
            throw new NbdTlsException($"{certificate} is there but its key {key} is not");
        }

        try
        {
            return LoadPair(certificate, key);
        }
        catch (Exception ex) when (ex is CryptographicException or FormatException or AsnContentException or IOException or UnauthorizedAccessException)
        {
            throw new NbdTlsException($"{certificate} with {key}: not a PEM certificate and its matching private key", ex);
        }
    }

    /// <summary>The extended key usage a TLS server's certificate must allow (id-kp-serverAuth).</summary>
    public static Oid ServerAuthentication { get; } = new("1.3.6.1.5.5.7.3.1");

    /// <summary>The extended key usage a TLS client's certificate must allow (id-kp-clientAuth).</summary>
    public static Oid ClientAuthentication { get; } = new("1.3.6.1.5.5.7.3.2");

    /// <summary>
    /// Makes <paramref name="chain"/> trust exactly <paramref name="authorities"/> (never the system's roots) and
    /// require <paramref name="usage"/>: a client certificate the CA signed must not pass as a server, nor the reverse.
    /// </summary>
    public static void TrustOnly(X509Chain chain, X509Certificate2Collection authorities, Oid usage)
    {
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(usage);
    }

    /// <summary>
    /// The subject's common name (2.5.4.3), or null when it has none. Not <c>GetNameInfo(SimpleName)</c>, which falls
    /// back to other attributes (an O or an e-mail address) that <c>--allow NAME</c> must not match as a CN.
    /// </summary>
    public static string? CommonName(X509Certificate2 certificate)
    {
        foreach (var attribute in certificate.SubjectName.EnumerateRelativeDistinguishedNames())
        {
            if (attribute.GetSingleElementType().Value == "2.5.4.3")
            {
                return attribute.GetSingleElementValue();
            }
        }

        return null;
    }

    /// <summary>A negotiated protocol as OpenSSL and GnuTLS name it (<c>TLSv1.3</c>).</summary>
    public static string ProtocolName(SslProtocols protocol) => protocol switch
    {
        SslProtocols.Tls13 => "TLSv1.3",
        SslProtocols.Tls12 => "TLSv1.2",
        _ => protocol.ToString(),
    };

    /// <summary>A certificate and its private key from PEM files.</summary>
    /// <exception cref="CryptographicException">Not a certificate and its matching key.</exception>
    public static X509Certificate2 LoadPair(string certificatePath, string keyPath)
    {
        try
        {
            return X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
        }
        catch (CryptographicException) when (LoadWithPaddedEcKey(certificatePath, keyPath) is { } certificate)
        {
            return certificate;
        }
    }

    /// <summary>
    /// GnuTLS's certtool (3.7) writes an EC key's private scalar with a leading zero byte when its top bit is set, one
    /// byte longer than the curve's; .NET rejects such a SEC1 key as corrupt. Strips the padding and pairs the key with
    /// the certificate's public key (which also proves they match). Null if the key is not a SEC1 EC key.
    /// </summary>
    private static X509Certificate2? LoadWithPaddedEcKey(string certificatePath, string keyPath)
    {
        var text = File.ReadAllText(keyPath);
        if (!PemEncoding.TryFind(text, out var fields) || text[fields.Label] != "EC PRIVATE KEY")
        {
            return null;
        }

        var sequence = new AsnReader(Convert.FromBase64String(text[fields.Base64Data]), AsnEncodingRules.DER).ReadSequence();
        _ = sequence.ReadInteger();
        var scalar = sequence.ReadOctetString();
        using var certificate = X509Certificate2.CreateFromPem(File.ReadAllText(certificatePath));
        using var publicKey = certificate.GetECDsaPublicKey();
        if (publicKey is null)
        {
            return null;
        }

        var parameters = publicKey.ExportParameters(includePrivateParameters: false);
        var length = parameters.Q.X!.Length;
        var start = 0;
        while (scalar.Length - start > length && scalar[start] == 0)
        {
            start++;
        }

        parameters.D = scalar[start..];
        using var key = ECDsa.Create(parameters);
        return certificate.CopyWithPrivateKey(key);
    }
}
