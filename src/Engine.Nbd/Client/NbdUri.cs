namespace Engine.Nbd.Client;

/// <summary>
/// A parsed NBD URI (<c>nbd://host[:port]/export</c>, <c>nbd+unix:///export?socket=PATH</c>, and the TLS forms
/// <c>nbds://</c>, <c>nbds+unix://</c>), as defined by the NBD URI specification.
/// </summary>
public sealed partial record NbdUri
{
    /// <summary>Host name or address for TCP; null for Unix sockets.</summary>
    public string? Host { get; init; }

    /// <summary>TCP port (10809 when the URI has none).</summary>
    public int Port { get; init; } = Protocol.NbdWire.DefaultPort;

    /// <summary>Unix socket path; null for TCP.</summary>
    public string? SocketPath { get; init; }

    /// <summary>Export name: the path without its leading '/', percent-decoded.</summary>
    public string ExportName { get; init; } = string.Empty;

    /// <summary>Whether the scheme demands TLS.</summary>
    public bool Tls { get; init; }

    /// <summary>
    /// <c>tls-certificates=DIR</c>: the directory with <c>ca-cert.pem</c> (the CA that must have signed the server's
    /// certificate) and, when present, <c>client-cert.pem</c>/<c>client-key.pem</c>. Null: the system's trusted CAs.
    /// </summary>
    public string? TlsCertificates { get; init; }

    /// <summary><c>tls-verify-peer=0|1</c>: whether the server's certificate is checked (default true).</summary>
    public bool TlsVerifyPeer { get; init; } = true;

    /// <summary><c>tls-hostname=NAME</c>: the name the server's certificate must carry, instead of the URI's host.</summary>
    public string? TlsHostname { get; init; }

    /// <summary><c>tls-psk-file=FILE</c>: psktool's <c>username:hexkey</c> file; selects TLS-PSK instead of X.509.</summary>
    public string? TlsPskFile { get; init; }

    /// <summary>
    /// The PSK user name: <c>tls-username=USER</c>, else the URI's user part (<c>nbds+unix://alice@/?…</c>), as
    /// libnbd reads it; null when neither is given.
    /// </summary>
    public string? TlsUsername { get; init; }

    /// <summary>The name the server's certificate is checked against: <see cref="TlsHostname"/>, else the TCP host; null on a Unix socket without tls-hostname.</summary>
    public string? TlsCheckedHostname => TlsHostname ?? Host;

    /// <summary>Where the server is, for messages: <c>socket PATH</c> or <c>HOST:PORT</c>.</summary>
    public string Endpoint => SocketPath is not null
        ? $"socket {SocketPath}"
        : Host!.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";

    /// <summary>The original text.</summary>
    public string Text { get; init; } = string.Empty;

    /// <summary>True when <paramref name="text"/> looks like an NBD URI (by scheme), whether or not it is valid.</summary>
    public static bool IsNbdUri(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.StartsWith("nbd://", StringComparison.Ordinal) || text.StartsWith("nbd+unix://", StringComparison.Ordinal)
            || text.StartsWith("nbds://", StringComparison.Ordinal) || text.StartsWith("nbds+unix://", StringComparison.Ordinal);
    }

    /// <summary>Parses an NBD URI.</summary>
    /// <exception cref="FormatException">The text is not a valid NBD URI; the message says what is wrong.</exception>
    public static NbdUri Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var schemeEnd = text.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd <= 0)
        {
            throw new FormatException($"'{text}' is not an NBD URI (expected nbd://, nbd+unix://, nbds:// or nbds+unix://)");
        }

        var scheme = text[..schemeEnd];
        var (unix, tls) = scheme switch
        {
            "nbd" => (false, false),
            "nbds" => (false, true),
            "nbd+unix" => (true, false),
            "nbds+unix" => (true, true),
            _ => throw new FormatException($"'{text}': unknown scheme '{scheme}' (expected nbd, nbds, nbd+unix or nbds+unix)"),
        };

        var rest = text[(schemeEnd + 3)..];
        var fragment = rest.IndexOf('#', StringComparison.Ordinal);
        if (fragment >= 0)
        {
            rest = rest[..fragment];
        }

        var queryStart = rest.IndexOf('?', StringComparison.Ordinal);
        var query = queryStart >= 0 ? rest[(queryStart + 1)..] : string.Empty;
        rest = queryStart >= 0 ? rest[..queryStart] : rest;
        var pathStart = rest.IndexOf('/', StringComparison.Ordinal);
        var authority = pathStart >= 0 ? rest[..pathStart] : rest;
        var path = pathStart >= 0 ? rest[(pathStart + 1)..] : string.Empty;

        string? socket = null;
        var options = new TlsQuery();
        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            var key = Uri.UnescapeDataString(equals >= 0 ? pair[..equals] : pair);
            var value = Uri.UnescapeDataString(equals >= 0 ? pair[(equals + 1)..] : string.Empty);
            if (key == "socket")
            {
                socket = value;
            }
            else if (key.StartsWith("tls-", StringComparison.Ordinal))
            {
                if (!tls)
                {
                    throw new FormatException($"'{text}': query key '{key}' needs a TLS scheme (nbds:// or nbds+unix://)");
                }

                options.Set(text, key, value);
            }
            else if (!key.StartsWith("x-", StringComparison.Ordinal))
            {
                throw new FormatException($"'{text}': unsupported query key '{key}'");
            }
        }

        var userEnd = authority.LastIndexOf('@');
        var user = userEnd > 0 ? Uri.UnescapeDataString(authority[..userEnd]) : null;
        options.Check(text);

        string? host = null;
        var port = Protocol.NbdWire.DefaultPort;
        if (unix)
        {
            if (string.IsNullOrEmpty(socket))
            {
                throw new FormatException($"'{text}': a {scheme} URI needs '?socket=PATH'");
            }
        }
        else
        {
            if (socket is not null)
            {
                throw new FormatException($"'{text}': 'socket' is only valid with nbd+unix://");
            }

            var hostPort = userEnd >= 0 ? authority[(userEnd + 1)..] : authority;
            if (hostPort.StartsWith('['))
            {
                var close = hostPort.IndexOf(']', StringComparison.Ordinal);
                if (close < 0)
                {
                    throw new FormatException($"'{text}': unterminated IPv6 literal");
                }

                host = hostPort[1..close];
                hostPort = hostPort[(close + 1)..];
                if (hostPort.Length > 0 && hostPort[0] != ':')
                {
                    throw new FormatException($"'{text}': junk after the IPv6 literal");
                }

                port = ParsePort(text, hostPort.Length > 0 ? hostPort[1..] : string.Empty);
            }
            else
            {
                var colon = hostPort.LastIndexOf(':');
                host = colon >= 0 ? hostPort[..colon] : hostPort;
                port = ParsePort(text, colon >= 0 ? hostPort[(colon + 1)..] : string.Empty);
            }

            if (host.Length == 0)
            {
                host = "localhost";
            }
        }

        return new NbdUri
        {
            Host = host,
            Port = port,
            SocketPath = socket,
            ExportName = Uri.UnescapeDataString(path),
            Tls = tls,
            TlsCertificates = options.Certificates,
            TlsVerifyPeer = options.VerifyPeer,
            TlsHostname = options.Hostname,
            TlsPskFile = options.PskFile,
            TlsUsername = options.Username ?? (tls ? user : null),
            Text = text,
        };
    }

    /// <inheritdoc />
    public override string ToString() => Text;

    private static int ParsePort(string text, string port)
    {
        if (port.Length == 0)
        {
            return Protocol.NbdWire.DefaultPort;
        }

        if (!int.TryParse(port, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value) || value is < 1 or > 65535)
        {
            throw new FormatException($"'{text}': bad port '{port}'");
        }

        return value;
    }
}
