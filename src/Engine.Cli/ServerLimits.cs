using Engine.Nbd.Server;
using Microsoft.Extensions.Logging;

namespace Engine.Cli;

/// <summary>The connection cap and handshake deadline an NBD server runs with, as checked by <see cref="ServerLimitOptions.Read"/>.</summary>
internal sealed record ServerLimits(int MaxConnections, TimeSpan HandshakeTimeout)
{
    /// <summary>Server options with these limits, and TLS as <c>engine serve</c>'s flags set it (off for the others).</summary>
    public NbdServerOptions ServerOptions(ILoggerFactory? loggerFactory, NbdTlsMode tlsMode = NbdTlsMode.Off, Engine.Nbd.Transport.Tls.INbdTlsServer? tlsServer = null) => new()
    {
        LoggerFactory = loggerFactory,
        MaxConnections = MaxConnections,
        HandshakeTimeout = HandshakeTimeout,
        TlsMode = tlsMode,
        TlsServer = tlsServer,
    };
}
