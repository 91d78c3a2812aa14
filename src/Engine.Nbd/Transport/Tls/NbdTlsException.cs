namespace Engine.Nbd.Transport.Tls;

/// <summary>A TLS handshake or TLS credentials failed; the message says which and why, naming the file or the peer.</summary>
public sealed class NbdTlsException : IOException
{
    /// <summary>Creates the exception.</summary>
    public NbdTlsException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
