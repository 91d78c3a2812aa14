using Engine.Backup.Repository.Chunks;
namespace Engine.Backup.Repository.Crypto;

/// <summary>Chunk names as today's unencrypted repositories have them: the SHA-256 of the content.</summary>
public sealed class Sha256ChunkNaming : IChunkNaming
{
    /// <summary>The one instance (it holds nothing).</summary>
    public static Sha256ChunkNaming Instance { get; } = new();

    private Sha256ChunkNaming()
    {
    }

    /// <inheritdoc />
    public ChunkDigest Name(ReadOnlySpan<byte> content) => ChunkDigest.Compute(content);
}
