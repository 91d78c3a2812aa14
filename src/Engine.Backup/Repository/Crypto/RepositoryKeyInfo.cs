namespace Engine.Backup.Repository.Crypto;

/// <summary>What a key file says about its key without unlocking it (<c>engine key info</c>).</summary>
/// <param name="File">The key file.</param>
/// <param name="Id">The key's id.</param>
/// <param name="Created">When the key was made.</param>
/// <param name="Wrapped">Whether a passphrase protects it.</param>
/// <param name="Kdf"><c>none</c> or <c>pbkdf2-sha256</c>.</param>
/// <param name="Iterations">PBKDF2 iterations when wrapped.</param>
public sealed record RepositoryKeyInfo(string File, string Id, DateTimeOffset Created, bool Wrapped, string Kdf, int? Iterations);
