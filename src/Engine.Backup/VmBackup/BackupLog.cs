using Microsoft.Extensions.Logging;

namespace Engine.Backup.VmBackup;

/// <summary>Source-generated log messages of the VM backup engine, with stable event ids.</summary>
internal static partial class BackupLog
{
    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "{Device}: full backup of {Size} bytes")]
    public static partial void Full(ILogger logger, string device, long size);

    [LoggerMessage(EventId = 101, Level = LogLevel.Information, Message = "{Device}: incremental from {Snapshot} with bitmap {Bitmap}")]
    public static partial void Incremental(ILogger logger, string device, Repository.Snapshots.SnapshotId snapshot, string bitmap);

    [LoggerMessage(EventId = 103, Level = LogLevel.Information, Message = "{Device}: full backup of {Size} bytes: {Reason}")]
    public static partial void FullBecause(ILogger logger, string device, long size, string reason);

    [LoggerMessage(EventId = 102, Level = LogLevel.Information, Message = "snapshot {Snapshot}: read {Read} bytes, reused {Reused}, stored {Stored} in {Seconds:F2} s")]
    public static partial void Committed(ILogger logger, Repository.Snapshots.SnapshotId snapshot, long read, long reused, long stored, double seconds);
}
