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
            return X509Certificate2.CreateFromPemFile(certificate, key);
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new NbdTlsException($"{certificate} with {key}: cannot load the certificate and its key: {ex.Message}", ex);
        }
    }
}
