using System.Net;
using System.Net.Sockets;
using Engine.Nbd.Server;
using Engine.Nbd.Transport;
using Microsoft.Extensions.Logging;

namespace Engine.Cli;

/// <summary>Where and how an NBD server listens, as checked by <see cref="ServerListenOptions.Read"/>.</summary>
internal sealed record ServerListenSettings(string? SocketPath, IPEndPoint? Tcp, ServerLimits Limits)
{
    /// <summary>Server options with these limits, and TLS as <c>engine serve</c>'s flags set it (off for the others).</summary>
    public NbdServerOptions ServerOptions(ILoggerFactory loggerFactory, NbdTlsMode tlsMode = NbdTlsMode.Off, Engine.Nbd.Transport.Tls.INbdTlsServer? tlsServer = null) =>
        Limits.ServerOptions(loggerFactory, tlsMode, tlsServer);

    /// <summary>Starts listening; returns a function from export name to the URI clients use.</summary>
    /// <exception cref="NbdListenException">The socket path or address cannot be used; the message names it.</exception>
    public Func<string, string> Start(NbdServer server)
    {
        if (SocketPath is not null)
        {
            server.ListenUnix(SocketPath);
            return name => $"nbd+unix:///{Uri.EscapeDataString(name)}?socket={SocketPath}";
        }

        var bound = server.ListenTcp(Tcp!);
        var host = bound.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{bound.Address}]" : bound.Address.ToString();
        return name => $"nbd://{host}:{bound.Port}/{Uri.EscapeDataString(name)}";
    }
}
