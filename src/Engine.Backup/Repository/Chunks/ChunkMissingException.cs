namespace Engine.Backup.Repository.Chunks;

/// <summary>A chunk an index refers to is not in the repository.</summary>
public sealed class ChunkMissingException : RepositoryException
{
    /// <summary>Creates the exception for chunk <paramref name="digest"/>, expected at <paramref name="path"/>.</summary>
    public ChunkMissingException(ChunkDigest digest, string path)
        : base(path, $"chunk {digest} is missing: {path}")
    {
        Digest = digest;
    }

    /// <summary>The chunk.</summary>
    public ChunkDigest Digest { get; }
}
