namespace Engine.Backup.Repository.Crypto;

/// <summary>
/// A key file as stored (JSON, docs/repository-format.md "Encryption"). Exactly one of <see cref="Key"/> (raw,
/// <see cref="Kdf"/> <c>none</c>) and <see cref="WrappedKey"/> (<c>pbkdf2-sha256</c>) is set.
/// </summary>
/// <param name="Version">The format, 1.</param>
/// <param name="Id">The key's id (HKDF label <c>key-id</c>), checked against the key once it is unwrapped.</param>
/// <param name="Created">When the key was made.</param>
/// <param name="Kdf"><c>none</c> or <c>pbkdf2-sha256</c>.</param>
/// <param name="Iterations">PBKDF2 iterations.</param>
/// <param name="Salt">PBKDF2 salt, base64 (32 random bytes).</param>
/// <param name="Key">The raw master key, base64.</param>
/// <param name="WrappedKey">The master key sealed with AES-256-GCM under the passphrase's key, base64 of nonce ‖ ciphertext ‖ tag.</param>
internal sealed record KeyFileDocument(
    int Version,
    string? Id,
    DateTimeOffset Created,
    string? Kdf,
    int? Iterations = null,
    string? Salt = null,
    string? Key = null,
    string? WrappedKey = null);
