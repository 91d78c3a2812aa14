namespace Engine.Backup.Repository;

/// <summary><c>engine-repository.json</c>: marks a directory as a repository and fixes its chunk format.</summary>
internal sealed class RepositoryConfig
{
    /// <summary>The only layout version so far.</summary>
    public const int CurrentFormat = 1;

    /// <summary>The file's name in the repository directory.</summary>
    public const string FileName = "engine-repository.json";

    /// <summary>Layout version.</summary>
    public int Format { get; set; } = CurrentFormat;

    /// <summary>Chunk size of disk images.</summary>
    public int ChunkSize { get; set; }

    /// <summary>zstd level of new chunks.</summary>
    public int CompressionLevel { get; set; }
}
