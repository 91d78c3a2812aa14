using Microsoft.Extensions.Logging;

namespace Engine.Nbd.Server;

/// <summary>Tunables of an <see cref="NbdServer"/>; the defaults suit qemu, nbdkit-era clients and nbdcopy.</summary>
public sealed class NbdServerOptions
{
    /// <summary>Requests one connection may have in flight before the server stops reading from it.</summary>
    public int MaxRequestsInFlight { get; init; } = 64;

    /// <summary>Largest READ or WRITE payload accepted, advertised in <c>NBD_INFO_BLOCK_SIZE</c>.</summary>
    public int MaxPayload { get; init; } = Protocol.NbdWire.DefaultMaxPayload;

    /// <summary>
    /// Connections open at once, handshaking or in transmission; further ones are closed at accept. Each costs a
    /// reader thread (and a writer thread in transmission), so this also bounds the server's threads. 100, as qemu-nbd.
    /// </summary>
    public int MaxConnections { get; init; } = 100;

    /// <summary>
    /// How long a client may take over the whole handshake, from accept to entering transmission, however it spends
    /// the time (trickling bytes, not reading replies). 10 s, as qemu-nbd. A client in transmission is never dropped
    /// for idling. <see cref="Timeout.InfiniteTimeSpan"/> disables the clock.
    /// </summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Options one handshake may send before the server gives up on the client.</summary>
    public int MaxOptions { get; init; } = 256;

    /// <summary>Whether reads from file-backed exports go from the page cache to the socket with sendfile(2).</summary>
    public bool ZeroCopyReads { get; init; } = true;

    /// <summary>Whether TLS is off, offered, or required; anything but off needs <see cref="TlsServer"/>.</summary>
    public NbdTlsMode TlsMode { get; init; } = NbdTlsMode.Off;

    /// <summary>Runs the server side of the TLS handshake after NBD_OPT_STARTTLS (X.509 or PSK credentials).</summary>
    public Transport.Tls.INbdTlsServer? TlsServer { get; init; }

    /// <summary>Where diagnostics go; null for none.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }
}
