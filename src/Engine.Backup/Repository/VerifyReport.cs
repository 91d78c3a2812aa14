using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Snapshots;

namespace Engine.Backup.Repository;

/// <summary>What <see cref="BackupRepository.VerifyAsync"/> found.</summary>
public sealed class VerifyReport
{
    /// <summary>Snapshots whose manifests and indexes were read.</summary>
    public IReadOnlyList<SnapshotId> Snapshots { get; init; } = [];

    /// <summary>Distinct chunks checked.</summary>
    public long ChunksChecked { get; init; }

    /// <summary>Bytes of chunk files read.</summary>
    public long BytesChecked { get; init; }

    /// <summary>Whether contents were rehashed with SHA-256 (otherwise headers and payload checksums only).</summary>
    public bool Rehashed { get; init; }

    /// <summary>Every missing or corrupt chunk, with the snapshots that use it.</summary>
    public IReadOnlyList<ChunkProblem> BadChunks { get; init; } = [];

    /// <summary>Snapshots whose manifest or an index could not be read.</summary>
    public IReadOnlyList<SnapshotProblem> BadSnapshots { get; init; } = [];

    /// <summary>No problem found.</summary>
    public bool IsClean => BadChunks.Count == 0 && BadSnapshots.Count == 0;
}

/// <summary>A chunk that failed verification.</summary>
/// <param name="Digest">The chunk's name.</param>
/// <param name="Path">Its file.</param>
/// <param name="Check">What is wrong.</param>
/// <param name="Snapshots">Every snapshot whose index refers to it.</param>
public sealed record ChunkProblem(ChunkDigest Digest, string Path, ChunkCheck Check, IReadOnlyList<SnapshotId> Snapshots);

/// <summary>A snapshot whose manifest or index is unreadable.</summary>
/// <param name="Snapshot">The snapshot.</param>
/// <param name="Path">The bad file.</param>
/// <param name="Reason">What is wrong.</param>
public sealed record SnapshotProblem(SnapshotId Snapshot, string Path, string Reason);

/// <summary>Verification progress: distinct chunks and bytes checked so far.</summary>
public readonly record struct VerifyProgress(long ChunksChecked, long ChunksTotal, long BytesChecked);
