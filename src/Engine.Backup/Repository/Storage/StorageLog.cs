using Microsoft.Extensions.Logging;

namespace Engine.Backup.Repository.Storage;

/// <summary>Source-generated log messages of the storage decorators, with stable event ids (13xx: issue 13's storage layer).</summary>
internal static partial class StorageLog
{
    [LoggerMessage(EventId = 1300, Level = LogLevel.Warning, Message = "{Operation} {Location}/{Key}: attempt {Attempt} of {MaxAttempts} failed, retrying in {DelayMs} ms: {Reason}")]
    public static partial void Retrying(ILogger logger, string operation, string location, string key, int attempt, int maxAttempts, long delayMs, string reason);

    [LoggerMessage(EventId = 1301, Level = LogLevel.Information, Message = "{Operation} {Location}/{Key}: succeeded after {Retries} retries")]
    public static partial void Recovered(ILogger logger, string operation, string location, string key, int retries);

    [LoggerMessage(EventId = 1302, Level = LogLevel.Error, Message = "{Operation} {Location}/{Key}: giving up after {Attempts} attempts in {ElapsedMs} ms: {Reason}")]
    public static partial void GaveUp(ILogger logger, string operation, string location, string key, int attempts, long elapsedMs, string reason);

    [LoggerMessage(EventId = 1310, Level = LogLevel.Information, Message = "known-object cache {Path}: dropped ({Reason})")]
    public static partial void CacheDropped(ILogger logger, string path, string reason);
}
