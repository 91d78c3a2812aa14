using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Engine.Nbd.Transport;

namespace Engine.Cli;

/// <summary>
/// The listening flags of the commands that run an NBD server where the user says (<c>serve</c>, <c>ova serve</c>):
/// where to listen, and the <see cref="ServerLimitOptions"/> that keep slow or idle clients from pinning it. A malformed value is a usage error (64); a place
/// that cannot be listened on is unavailable (69), see <see cref="NbdListenException"/>.
/// </summary>
internal sealed class ServerListenOptions
{
    public Option<string?> Socket { get; } = new("--socket", "-k")
    {
        Description = "Listen on this Unix socket. A stale socket there is replaced; a file or a socket a live server answers on is refused.",
    };

    public Option<string?> Listen { get; } = new("--listen", "-l") { Description = "Listen on TCP ADDR:PORT (default 127.0.0.1:10809 when no --socket)." };

    /// <summary>The connection cap and handshake deadline.</summary>
    public ServerLimitOptions Limits { get; } = new();

    /// <summary>Adds the flags to a command.</summary>
    public void AddTo(Command command)
    {
        command.Options.Add(Socket);
        command.Options.Add(Listen);
        Limits.AddTo(command);
    }

    /// <summary>Reads and checks the flags.</summary>
    /// <exception cref="FormatException">A flag is malformed or out of range; the message names it.</exception>
    public ServerListenSettings Read(ParseResult parse)
    {
        var socket = parse.GetValue(Socket);
        var listen = parse.GetValue(Listen);
        if (socket is not null && listen is not null)
        {
            throw new FormatException("use either --socket or --listen, not both");
        }

        if (socket is { Length: 0 })
        {
            throw new FormatException("--socket needs a path");
        }

        var limits = Limits.Read(parse);
        var tcp = socket is null ? ParseListenAddress(listen ?? $"127.0.0.1:{Nbd.Protocol.NbdWire.DefaultPort}") : null;
        return new ServerListenSettings(socket is null ? null : Path.GetFullPath(socket), tcp, limits);
    }

    /// <summary>Parses <c>ADDR:PORT</c> (IPv6 in brackets; a host name must resolve); port 0 picks a free port.</summary>
    /// <exception cref="FormatException">Not of that form, a bad port, or an unknown host.</exception>
    private static IPEndPoint ParseListenAddress(string text)
    {
        var colon = text.LastIndexOf(':');
        var host = colon > 0 ? text[..colon] : string.Empty;
        var portText = colon > 0 ? text[(colon + 1)..] : string.Empty;
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
        }

        if (host.Length == 0 || !int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > IPEndPoint.MaxPort)
        {
            throw new FormatException($"--listen {text}: expected ADDR:PORT, such as 127.0.0.1:10809 or [::1]:10809");
        }

        if (IPAddress.TryParse(host, out var address))
        {
            return new IPEndPoint(address, port);
        }

        try
        {
            var addresses = Dns.GetHostAddresses(host);
            if (addresses.Length > 0)
            {
                return new IPEndPoint(addresses[0], port);
            }
        }
        catch (SocketException)
        {
            // Reported below, like an empty answer.
        }

        throw new FormatException($"--listen {text}: unknown host '{host}'");
    }
}
