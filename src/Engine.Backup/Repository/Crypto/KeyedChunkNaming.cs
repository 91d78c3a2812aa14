using System.Security.Cryptography;
using Engine.Backup.Repository.Chunks;

namespace Engine.Backup.Repository.Crypto;

/// <summary>
/// Chunk names for an encrypted repository: HMAC-SHA256 of the content under the naming subkey
/// (<see cref="KeyPurpose.ChunkNaming"/>). Whoever holds the store but not the key cannot hash a known file and look
/// for its chunks; deduplication still works between every backup made with the same key, and never across keys.
/// </summary>
public sealed class KeyedChunkNaming : IChunkNaming
{
    private readonly byte[] _key;

    /// <summary>Names chunks under the 32-byte naming key <paramref name="key"/> (see <see cref="RepositoryKey.CreateChunkNaming"/>).</summary>
    public KeyedChunkNaming(ReadOnlySpan<byte> key)
    {
        if (key.Length != KeyDerivation.SubkeyLength)
        {
            throw new ArgumentException($"a naming key has {KeyDerivation.SubkeyLength} bytes, got {key.Length}", nameof(key));
        }

        _key = key.ToArray();
    }

    /// <inheritdoc />
    public ChunkDigest Name(ReadOnlySpan<byte> content)
    {
        Span<byte> mac = stackalloc byte[ChunkDigest.Length];
        HMACSHA256.HashData(_key, content, mac);
        return ChunkDigest.Read(mac);
    }
}
