using System.Security.Cryptography;

namespace Engine.Backup.Repository.Crypto;

/// <summary>
/// A repository's 256-bit master key. It never encrypts anything itself: every use gets its own subkey, derived with
/// HKDF-SHA256 under a distinct label (<see cref="KeyDerivation"/>), so a weakness in one use (say, a chunk name
/// leaking something about the naming key) tells nothing about another. The key id (<see cref="Id"/>) is derived the
/// same way, so it names the key without revealing it and survives re-wrapping and the paper form unchanged.
/// Dispose to wipe the key from memory.
/// </summary>
public sealed class RepositoryKey : IDisposable
{
    /// <summary>Bytes in a master key (AES-256).</summary>
    public const int Length = 32;

    private readonly byte[] _key;
    private bool _disposed;

    private RepositoryKey(ReadOnlySpan<byte> key)
    {
        if (key.Length != Length)
        {
            throw new ArgumentException($"a repository key has {Length} bytes, got {key.Length}", nameof(key));
        }

        _key = key.ToArray();
        Id = KeyDerivation.KeyId(_key);
    }

    /// <summary>The key's fingerprint: 32 lowercase hex digits, derived from the key (HKDF, label <c>key-id</c>).</summary>
    public string Id { get; }

    /// <summary>A fresh key from the operating system's CSPRNG.</summary>
    public static RepositoryKey Generate()
    {
        Span<byte> key = stackalloc byte[Length];
        RandomNumberGenerator.Fill(key);
        try
        {
            return new RepositoryKey(key);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>The key whose 32 bytes are <paramref name="key"/> (a key file's content, a paper form).</summary>
    /// <exception cref="ArgumentException">Not 32 bytes.</exception>
    public static RepositoryKey FromBytes(ReadOnlySpan<byte> key) => new(key);

    /// <summary>The cipher for object contents (subkey <c>content</c>).</summary>
    public ObjectCipher CreateObjectCipher() => WithSubkey(KeyPurpose.Content, static subkey => new ObjectCipher(subkey));

    /// <summary>Chunk naming by HMAC-SHA256 (subkey <c>chunk-naming</c>).</summary>
    public KeyedChunkNaming CreateChunkNaming() => WithSubkey(KeyPurpose.ChunkNaming, static subkey => new KeyedChunkNaming(subkey));

    /// <summary>Keyed snapshot object names (subkey <c>object-names</c>).</summary>
    public KeyedSnapshotNames CreateSnapshotNames() => WithSubkey(KeyPurpose.ObjectNames, static subkey => new KeyedSnapshotNames(subkey));

    /// <summary>Writes the subkey for <paramref name="purpose"/> (32 bytes) into <paramref name="destination"/>.</summary>
    public void Derive(KeyPurpose purpose, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        KeyDerivation.Derive(_key, purpose, destination);
    }

    /// <summary>The raw key, for the key file and the paper form only.</summary>
    internal ReadOnlySpan<byte> Material
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _key;
        }
    }

    private delegate T SubkeyUse<out T>(ReadOnlySpan<byte> subkey);

    /// <summary>Hands the subkey of <paramref name="purpose"/> to <paramref name="use"/> on the stack, and wipes it after.</summary>
    private T WithSubkey<T>(KeyPurpose purpose, SubkeyUse<T> use)
    {
        Span<byte> subkey = stackalloc byte[KeyDerivation.SubkeyLength];
        Derive(purpose, subkey);
        try
        {
            return use(subkey);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(subkey);
        }
    }

    /// <summary>Wipes the key.</summary>
    public void Dispose()
    {
        if (!_disposed)
        {
            CryptographicOperations.ZeroMemory(_key);
            _disposed = true;
        }
    }
}
