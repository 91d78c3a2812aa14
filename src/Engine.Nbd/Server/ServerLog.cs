using Engine.Nbd.Protocol;
using Microsoft.Extensions.Logging;

namespace Engine.Nbd.Server;

/// <summary>The server's log messages: source-generated, with stable event IDs (1xx listeners, 2xx handshake, 3xx transmission).</summary>
internal static partial class ServerLog
{
    [LoggerMessage(100, LogLevel.Information, "Listening on {Listener}")]
    public static partial void Listening(ILogger logger, string listener);

    [LoggerMessage(101, LogLevel.Warning, "accept on {Listener} failed")]
    public static partial void AcceptFailed(ILogger logger, Exception exception, string listener);

    [LoggerMessage(102, LogLevel.Warning, "Refusing a connection on {Listener}: {Max} connections open")]
    public static partial void TooManyConnections(ILogger logger, string listener, int max);

    [LoggerMessage(103, LogLevel.Warning, "Aborting connections still busy after {Timeout}")]
    public static partial void AbortingAtDeadline(ILogger logger, TimeSpan timeout);

    [LoggerMessage(106, LogLevel.Error, "Connections still busy after abort (a device ignores cancellation); stopping without them")]
    public static partial void AbortIncomplete(ILogger logger);

    [LoggerMessage(107, LogLevel.Information, "{Peer}: dropped: handshake not finished within {Timeout}")]
    public static partial void HandshakeTimedOut(ILogger logger, string peer, TimeSpan timeout);

    [LoggerMessage(104, LogLevel.Debug, "{Peer}: closed ({Reason}): {Detail}")]
    public static partial void ConnectionClosed(ILogger logger, string peer, Transport.ConnectionCloseReason reason, string? detail);

    [LoggerMessage(108, LogLevel.Information, "{Peer}: refused ({Reason}): {Detail}")]
    public static partial void ConnectionRefused(ILogger logger, string peer, Transport.ConnectionCloseReason reason, string? detail);

    [LoggerMessage(105, LogLevel.Error, "{Peer}: connection failed")]
    public static partial void ConnectionFailed(ILogger logger, Exception exception, string peer);

    [LoggerMessage(200, LogLevel.Debug, "{Peer}: option {Option} with {Length} bytes")]
    public static partial void OptionReceived(ILogger logger, string peer, NbdOption option, int length);

    [LoggerMessage(201, LogLevel.Debug, "{Peer}: option {Option} refused with {Error}: {Message}")]
    public static partial void OptionRefused(ILogger logger, string peer, NbdOption option, NbdOptionReply error, string message);

    [LoggerMessage(203, LogLevel.Debug, "{Peer}: TLS established ({Protocol}, {Authentication}) with {Client}")]
    public static partial void TlsEstablished(ILogger logger, string peer, string protocol, string authentication, string client);

    [LoggerMessage(204, LogLevel.Information, "{Peer}: export '{Export}' refused to {Client} (--allow/--allow-uid); answered as unknown")]
    public static partial void AccessRefused(ILogger logger, string peer, string export, string client);

    [LoggerMessage(202, LogLevel.Debug, "{Peer}: serving export '{Export}' (structured={Structured}, extended={Extended}, {Security})")]
    public static partial void Serving(ILogger logger, string peer, string export, bool structured, bool extended, string security);

    [LoggerMessage(300, LogLevel.Debug, "{Peer}: {Command} at {Offset}+{Length} refused: {Message}")]
    public static partial void RequestRefused(ILogger logger, string peer, NbdCommand command, ulong offset, ulong length, string? message);

    [LoggerMessage(301, LogLevel.Warning, "{Peer}: {Command} at {Offset}+{Length} failed")]
    public static partial void RequestFailed(ILogger logger, Exception exception, string peer, NbdCommand command, ulong offset, ulong length);

    [LoggerMessage(302, LogLevel.Debug, "{Peer}: {Command} at {Offset}+{Length} failed: {Message}")]
    public static partial void RequestFailedQuietly(ILogger logger, string peer, NbdCommand command, ulong offset, ulong length, string message);

    [LoggerMessage(303, LogLevel.Debug, "{Peer}: stopped sending: {Reason}")]
    public static partial void SendStopped(ILogger logger, string peer, string reason);

    [LoggerMessage(304, LogLevel.Debug, "{Peer}: client ended the session: {How}")]
    public static partial void ClientLeft(ILogger logger, string peer, string how);
}
