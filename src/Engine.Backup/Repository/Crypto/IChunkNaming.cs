using Engine.Backup.Repository.Chunks;
namespace Engine.Backup.Repository.Crypto;

/// <summary>
/// How a chunk's content becomes its name (<see cref="ChunkDigest"/>, 32 bytes either way): plain SHA-256 for an
/// unencrypted repository, HMAC-SHA256 under the repository key's naming subkey for an encrypted one. Thread-safe.
/// </summary>
public interface IChunkNaming
{
    /// <summary>The name of a chunk holding <paramref name="content"/>.</summary>
    ChunkDigest Name(ReadOnlySpan<byte> content);

    /// <summary><see cref="ChunkDigest.Zero"/> when every byte of <paramref name="content"/> is zero (such a chunk is never stored), otherwise <see cref="Name"/>.</summary>
    ChunkDigest NameOrZero(ReadOnlySpan<byte> content) =>
        content.IndexOfAnyExcept((byte)0) < 0 ? ChunkDigest.Zero : Name(content);
}
