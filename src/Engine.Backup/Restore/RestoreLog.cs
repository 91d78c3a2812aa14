using Microsoft.Extensions.Logging;

namespace Engine.Backup.Restore;

/// <summary>Source-generated log messages of snapshot exports, with stable event ids.</summary>
internal static partial class RestoreLog
{
    [LoggerMessage(EventId = 1400, Level = LogLevel.Error, Message = "{Request} failed: {Reason}")]
    public static partial void FuseRequestFailed(ILogger logger, string request, string reason, Exception cause);
}
