using Engine.Nbd.Server;
using Microsoft.Extensions.Logging;

namespace Engine.Cli;

/// <summary>The connection cap and handshake deadline an NBD server runs with, as checked by <see cref="ServerLimitOptions.Read"/>.</summary>
internal sealed record ServerLimits(int MaxConnections, TimeSpan HandshakeTimeout)
{
    /// <summary>Server options with these limits.</summary>
    public NbdServerOptions ServerOptions(ILoggerFactory? loggerFactory) => new()
    {
        LoggerFactory = loggerFactory,
        MaxConnections = MaxConnections,
        HandshakeTimeout = HandshakeTimeout,
    };
}
