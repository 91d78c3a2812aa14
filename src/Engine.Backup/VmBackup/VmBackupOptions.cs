using Microsoft.Extensions.Logging;

namespace Engine.Backup.VmBackup;

/// <summary>How a VM backup runs.</summary>
public sealed class VmBackupOptions
{
    /// <summary>Source read limit in bytes per second; 0 means none.</summary>
    public long BandwidthLimit { get; init; }

    /// <summary>Chunks processed at once (read, hashed, compressed, stored); 0 picks twice the processor count.</summary>
    public int Parallelism { get; init; }

    /// <summary>
    /// Discard each range at the source once its chunk is durable, as PVE asks of providers (the fleecing image
    /// shrinks). Off by default: on a plain disk export it would destroy the data.
    /// </summary>
    public bool DiscardSource { get; init; }

    /// <summary>Bytes read between durability checkpoints that allow discarding; larger means fewer syncs.</summary>
    public long DiscardBatchBytes { get; init; } = 256L << 20;

    /// <summary>Receives progress after every chunk.</summary>
    public IProgress<BackupProgress>? Progress { get; init; }

    /// <summary>Where the backup logs; null logs nothing.</summary>
    public ILogger? Logger { get; init; }
}
