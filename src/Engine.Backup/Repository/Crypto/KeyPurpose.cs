namespace Engine.Backup.Repository.Crypto;

/// <summary>What a subkey of the master key is for; each has its own HKDF label (<see cref="KeyDerivation"/>).</summary>
public enum KeyPurpose
{
    /// <summary>AES-256-GCM of every object's content (chunks, indexes, manifests, catalogs).</summary>
    Content,

    /// <summary>HMAC-SHA256 that names chunks, so the store cannot confirm known content.</summary>
    ChunkNaming,

    /// <summary>Keyed names of snapshot objects, which would otherwise show VM ids and times in the clear.</summary>
    ObjectNames,
}
