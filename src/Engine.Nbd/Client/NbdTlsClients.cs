using Engine.Nbd.Transport.Tls;
using Engine.Nbd.Transport.Tls.Psk;

namespace Engine.Nbd.Client;

/// <summary>Picks the TLS client an nbds:// URI asks for: PSK when it names a key file, X.509 otherwise.</summary>
internal static class NbdTlsClients
{
    /// <summary>
    /// The PSK identity: the URI's <c>tls-username</c> or user part, else the local user name, as libnbd does
    /// (<c>nbd_set_tls_username</c>: "if not set then the local username is used").
    /// </summary>
    public static string PskIdentity(NbdUri uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        return uri.TlsUsername ?? Environment.UserName;
    }

    /// <summary>Loads the credentials the URI names. The result may be <see cref="IDisposable"/>: the caller disposes it after the handshake.</summary>
    /// <exception cref="NbdException">The credentials cannot be loaded (the message names the file), or OpenSSL is missing.</exception>
    public static INbdTlsClient For(NbdUri uri)
    {
        try
        {
            if (uri.TlsPskFile is { } pskFile)
            {
                // The client keeps a copy of its one key; the rest of the file is wiped at once.
                using var keys = PskKeyFile.Load(pskFile);
                return new PskTlsClient(keys, PskIdentity(uri));
            }

            return new X509TlsClient(uri.TlsCertificates, uri.TlsVerifyPeer);
        }
        catch (NbdTlsException ex)
        {
            throw new NbdException($"{uri}: {ex.Message}", ex);
        }
    }
}
