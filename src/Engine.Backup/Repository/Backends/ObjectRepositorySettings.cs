using Engine.Backup.Repository.Storage;

namespace Engine.Backup.Repository.Backends;

/// <summary>
/// What a repository in an object store fixed when it was created (its <c>config</c> object, read by the backend's
/// project) and how this process uses it.
/// </summary>
public sealed class ObjectRepositorySettings
{
    /// <summary>Chunk size of disk images.</summary>
    public required int ChunkSize { get; init; }

    /// <summary>zstd level of new chunks.</summary>
    public required int CompressionLevel { get; init; }

    /// <summary>Days each snapshot's objects stay locked after its time (S3 Object Lock); null for none.</summary>
    public int? RetainDays { get; init; }

    /// <summary>The lock's mode when <see cref="RetainDays"/> is set.</summary>
    public ObjectLockMode LockMode { get; init; } = ObjectLockMode.Compliance;

    /// <summary>The known-chunk cache's file; null keeps the cache in memory for this process.</summary>
    public string? CachePath { get; init; }

    /// <summary>
    /// The repository's random id from its <c>config</c> (null for one made before ids existed): part of the
    /// known-chunk cache's generation, so a cache kept for an emptied and re-initialised bucket is dropped.
    /// </summary>
    public string? RepositoryId { get; init; }

    /// <summary>How long leases live and how often they are renewed (tests shorten them).</summary>
    internal LeaseTimes LeaseTimes { get; init; } = LeaseTimes.Default;

    /// <summary>Garbage collection keeps unreferenced chunks younger than this (writers that have not committed yet).</summary>
    public TimeSpan GcGrace { get; init; } = TimeSpan.FromMinutes(5);
}
