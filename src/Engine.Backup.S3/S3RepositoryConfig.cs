namespace Engine.Backup.S3;

/// <summary>
/// The <c>config</c> object of an S3 repository: format, chunk format and the retention <c>engine init</c> was given.
/// Kept here until the repository itself runs on <c>IObjectStore</c>; the local directory's
/// <c>engine-repository.json</c> holds the same format fields, so the two can become one document.
/// </summary>
internal sealed class S3RepositoryConfig
{
    /// <summary>The layout version (the local repository's format 1 plus object storage).</summary>
    public const int CurrentFormat = 1;

    /// <summary>Layout version.</summary>
    public int Format { get; set; } = CurrentFormat;

    /// <summary>Chunk size of disk images.</summary>
    public int ChunkSize { get; set; }

    /// <summary>zstd level of new chunks.</summary>
    public int CompressionLevel { get; set; }

    /// <summary>Days every object a snapshot references stays locked; null without Object Lock.</summary>
    public int? RetainDays { get; set; }

    /// <summary><c>Compliance</c> or <c>Governance</c> when <see cref="RetainDays"/> is set.</summary>
    public string? LockMode { get; set; }

    /// <summary>
    /// A random id <c>engine init</c> gives the repository, so that a cache of known chunks kept for the same URL (a
    /// bucket emptied and initialised again, a fresh gateway) is never trusted for another repository; null in
    /// repositories made before it existed.
    /// </summary>
    public string? RepositoryId { get; set; }

    /// <summary>When the repository was created.</summary>
    public DateTimeOffset Created { get; set; }
}
