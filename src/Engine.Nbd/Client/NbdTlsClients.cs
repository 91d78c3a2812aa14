using Engine.Nbd.Transport.Tls;

namespace Engine.Nbd.Client;

/// <summary>Picks the TLS client an nbds:// URI asks for: PSK when it names a key file, X.509 otherwise.</summary>
internal static class NbdTlsClients
{
    /// <exception cref="NbdException">The URI asks for a TLS method this build cannot do, or its credentials cannot be loaded (the message names the file).</exception>
    public static INbdTlsClient For(NbdUri uri)
    {
        if (uri.TlsPskFile is { } pskFile)
        {
            // The one place the PSK client is created (Transport/Tls/Psk, OpenSSL): with identity uri.TlsUsername
            // and the key read from pskFile.
            throw new NbdException($"{uri}: TLS-PSK (tls-psk-file={pskFile}, user '{uri.TlsUsername}') is not supported by this build yet");
        }

        try
        {
            return new X509TlsClient(uri.TlsCertificates, uri.TlsVerifyPeer);
        }
        catch (NbdTlsException ex)
        {
            throw new NbdException($"{uri}: {ex.Message}", ex);
        }
    }
}
