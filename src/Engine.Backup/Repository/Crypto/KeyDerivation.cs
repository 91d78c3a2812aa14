using System.Security.Cryptography;
using System.Text;

namespace Engine.Backup.Repository.Crypto;

/// <summary>
/// How subkeys come from the master key: HKDF-SHA256 (RFC 5869) with the master key as input keying material, no salt
/// (the master key is already uniformly random) and the info string <c>engine/repository/v1/LABEL</c>, 32 bytes out.
/// Labels: <c>content</c> (AES-256-GCM), <c>chunk-naming</c> (HMAC-SHA256), <c>object-names</c> (snapshot names),
/// and <c>key-id</c>, whose first 16 bytes in hex are the key's id. docs/repository-format.md, "Encryption", lists
/// them; a label never changes meaning, a new use gets a new label.
/// </summary>
public static class KeyDerivation
{
    /// <summary>Bytes in every subkey.</summary>
    public const int SubkeyLength = 32;

    /// <summary>Bytes of the key-id output shown as the id.</summary>
    private const int IdLength = 16;

    private static readonly byte[] ContentInfo = Info("content");
    private static readonly byte[] ChunkNamingInfo = Info("chunk-naming");
    private static readonly byte[] ObjectNamesInfo = Info("object-names");
    private static readonly byte[] KeyIdInfo = Info("key-id");

    /// <summary>The HKDF info string of <paramref name="purpose"/>.</summary>
    public static string LabelOf(KeyPurpose purpose) => Encoding.ASCII.GetString(InfoOf(purpose));

    /// <summary>Derives the 32-byte subkey for <paramref name="purpose"/> from <paramref name="masterKey"/>.</summary>
    public static void Derive(ReadOnlySpan<byte> masterKey, KeyPurpose purpose, Span<byte> destination) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, masterKey, destination[..SubkeyLength], salt: [], InfoOf(purpose));

    /// <summary>The id (fingerprint) of <paramref name="masterKey"/>: 32 lowercase hex digits.</summary>
    public static string KeyId(ReadOnlySpan<byte> masterKey)
    {
        Span<byte> id = stackalloc byte[SubkeyLength];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, masterKey, id, salt: [], KeyIdInfo);
        return Convert.ToHexStringLower(id[..IdLength]);
    }

    private static byte[] InfoOf(KeyPurpose purpose) => purpose switch
    {
        KeyPurpose.Content => ContentInfo,
        KeyPurpose.ChunkNaming => ChunkNamingInfo,
        KeyPurpose.ObjectNames => ObjectNamesInfo,
        _ => throw new ArgumentOutOfRangeException(nameof(purpose), purpose, "unknown key purpose"),
    };

    private static byte[] Info(string label) => Encoding.ASCII.GetBytes("engine/repository/v1/" + label);
}
