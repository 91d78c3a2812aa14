namespace Engine.Backup.Repository;

/// <summary>How a <see cref="BackupRepository"/> is created and used.</summary>
public sealed class RepositoryOptions
{
    /// <summary>Chunk size of disk images (4 MiB). Recorded when the repository is created; an existing repository keeps its own.</summary>
    public int ChunkSize { get; init; } = 4 << 20;

    /// <summary>zstd level for new chunks (1–22; 3 is zstd's default). Recorded when the repository is created.</summary>
    public int CompressionLevel { get; init; } = 3;

    /// <summary>
    /// fdatasync every chunk before renaming it into place. Off by default: a commit syncs the whole filesystem once,
    /// which makes every chunk durable before the manifest appears, at a fraction of the cost.
    /// </summary>
    public bool SyncEachChunk { get; init; }

    /// <summary>
    /// Garbage collection keeps unreferenced chunks touched less than this long before the oldest running backup (or
    /// the collection) started, to absorb clock skew and writers that register late.
    /// </summary>
    public TimeSpan GcGrace { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Another repository's <c>chunks</c> directory, consulted read-only before a chunk is written here: a staging
    /// repository (an unprivileged container's backup, written as the container's mapped root) then stores only the
    /// chunks its parent lacks. <see cref="BackupRepository.ImportSnapshotAsync"/> later moves the snapshot into the
    /// parent, checking every chunk it names.
    /// </summary>
    public string? ParentChunkDirectory { get; init; }
}
