namespace Engine.Backup.Repository;

/// <summary>What one backup read, reused and wrote.</summary>
public sealed class SnapshotStats
{
    /// <summary>Bytes read from the sources.</summary>
    public long BytesRead { get; set; }

    /// <summary>Bytes of the devices that came from chunks already in the repository.</summary>
    public long BytesReused { get; set; }

    /// <summary>Bytes written to the repository for new chunks (compressed, headers included).</summary>
    public long BytesStored { get; set; }

    /// <summary>Uncompressed bytes of the new chunks.</summary>
    public long BytesNew { get; set; }

    /// <summary>Chunks written.</summary>
    public long ChunksNew { get; set; }

    /// <summary>Chunks already present.</summary>
    public long ChunksReused { get; set; }

    /// <summary>All-zero chunks (never stored).</summary>
    public long ZeroChunks { get; set; }

    /// <summary>Wall-clock duration of the backup.</summary>
    public double DurationSeconds { get; set; }
}
