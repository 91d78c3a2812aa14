namespace Engine.Backup.Repository;

/// <summary>What <see cref="BackupRepository.CollectGarbageAsync"/> did.</summary>
public sealed class GcReport
{
    /// <summary>Snapshots whose chunks were marked.</summary>
    public int Snapshots { get; init; }

    /// <summary>Distinct chunks the snapshots refer to.</summary>
    public long ChunksReferenced { get; init; }

    /// <summary>Chunk files seen by the sweep.</summary>
    public long ChunksScanned { get; init; }

    /// <summary>Chunk files deleted.</summary>
    public long ChunksRemoved { get; init; }

    /// <summary>Bytes the deleted chunk files held.</summary>
    public long BytesFreed { get; init; }

    /// <summary>Unreferenced chunks kept because they were touched after the cutoff (a running backup may use them).</summary>
    public long ChunksKeptRecent { get; init; }

    /// <summary>Unreferenced chunks an object store still retains (Object Lock) and refused to delete; a later run frees them.</summary>
    public long ChunksLocked { get; init; }

    /// <summary>Abandoned snapshot directories (no manifest, no running writer) removed.</summary>
    public int IncompleteSnapshotsRemoved { get; init; }

    /// <summary>Stale temporary files removed.</summary>
    public int TemporaryFilesRemoved { get; init; }

    /// <summary>Running backups seen when the collection started.</summary>
    public int ActiveWriters { get; init; }

    /// <summary>Unreferenced files touched at or after this instant were kept.</summary>
    public DateTimeOffset Cutoff { get; init; }

    /// <summary>Wall-clock duration.</summary>
    public double DurationSeconds { get; init; }
}
