using System.Text.Json.Serialization;

namespace Engine.Backup.Repository.Snapshots;

/// <summary>What one backup read, reused and wrote.</summary>
public sealed class SnapshotStats
{
    /// <summary>An empty one, for the backup engines to fill in and for the JSON context to read into.</summary>
    [JsonConstructor]
    internal SnapshotStats()
    {
    }

    /// <summary>Bytes read from the sources.</summary>
    [JsonInclude]
    public long BytesRead { get; internal set; }

    /// <summary>Bytes of the devices that came from chunks already in the repository.</summary>
    [JsonInclude]
    public long BytesReused { get; internal set; }

    /// <summary>Bytes written to the repository for new chunks (compressed, headers included).</summary>
    [JsonInclude]
    public long BytesStored { get; internal set; }

    /// <summary>Uncompressed bytes of the new chunks.</summary>
    [JsonInclude]
    public long BytesNew { get; internal set; }

    /// <summary>Chunks written.</summary>
    [JsonInclude]
    public long ChunksNew { get; internal set; }

    /// <summary>Chunks already present.</summary>
    [JsonInclude]
    public long ChunksReused { get; internal set; }

    /// <summary>All-zero chunks (never stored).</summary>
    [JsonInclude]
    public long ZeroChunks { get; internal set; }

    /// <summary>Wall-clock duration of the backup.</summary>
    [JsonInclude]
    public double DurationSeconds { get; internal set; }
}
