using System.CommandLine;
using System.Globalization;

namespace Engine.Cli;

/// <summary>
/// <c>--max-connections N</c> and <c>--handshake-timeout SECONDS</c>, on every command that runs an NBD server
/// (<c>serve</c>, <c>ova serve</c>, <c>export</c>): they keep slow, idle or surplus clients from pinning it. The
/// defaults are qemu-nbd's.
/// </summary>
internal sealed class ServerLimitOptions
{
    private const double DefaultHandshakeSeconds = 10;
    private const int DefaultMaxConnections = 100;

    public Option<int> MaxConnections { get; } = new("--max-connections")
    {
        Description = "Connections served at once; more are closed at accept (default 100, as qemu-nbd).",
        DefaultValueFactory = _ => DefaultMaxConnections,
    };

    public Option<double> HandshakeTimeout { get; } = new("--handshake-timeout")
    {
        Description = "Seconds a client may take over the whole handshake before it is dropped (default 10, as qemu-nbd).",
        DefaultValueFactory = _ => DefaultHandshakeSeconds,
    };

    /// <summary>Adds the flags to a command.</summary>
    public void AddTo(Command command)
    {
        command.Options.Add(MaxConnections);
        command.Options.Add(HandshakeTimeout);
    }

    /// <summary>Reads and checks the flags.</summary>
    /// <exception cref="FormatException">A value is out of range; the message names the flag.</exception>
    public ServerLimits Read(ParseResult parse)
    {
        var maxConnections = parse.GetValue(MaxConnections);
        var handshakeSeconds = parse.GetValue(HandshakeTimeout);
        if (maxConnections < 1)
        {
            throw new FormatException($"--max-connections {maxConnections}: must be at least 1");
        }

        if (!double.IsFinite(handshakeSeconds) || handshakeSeconds <= 0 || handshakeSeconds > int.MaxValue / 1000)
        {
            throw new FormatException($"--handshake-timeout {handshakeSeconds.ToString(CultureInfo.InvariantCulture)}: must be a positive number of seconds");
        }

        return new ServerLimits(maxConnections, TimeSpan.FromSeconds(handshakeSeconds));
    }
}
