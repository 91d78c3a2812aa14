using System.Security.Cryptography;
using System.Text;

namespace Engine.Backup.Repository.Crypto;

/// <summary>
/// Object names for an encrypted repository's snapshots that show neither the VM id, the time nor the disk names:
/// <c>snapshots/F/manifest.json</c> and <c>snapshots/F/D</c>, where F is the first 16 bytes (hex) of
/// HMAC-SHA256(object-names subkey, <c>"snapshot\0" ‖ id</c>) and D those of HMAC-SHA256(same key,
/// <c>"file\0" ‖ id ‖ "\0" ‖ file name</c>). Deterministic, so a client with the key finds a snapshot whose id it
/// knows without listing; a listing finds the folders, and each one's sealed manifest gives the id. The repository
/// uses it from the port onwards (docs/repository-format.md, "Encryption").
/// </summary>
public sealed class KeyedSnapshotNames
{
    /// <summary>The one file name kept as it is, so a listing can tell a complete snapshot (its manifest is written last).</summary>
    public const string ManifestFile = "manifest.json";

    private const int NameBytes = 16;
    private readonly byte[] _key;

    /// <summary>Names under the 32-byte object-names subkey <paramref name="key"/> (see <see cref="RepositoryKey.CreateSnapshotNames"/>).</summary>
    public KeyedSnapshotNames(ReadOnlySpan<byte> key)
    {
        if (key.Length != KeyDerivation.SubkeyLength)
        {
            throw new ArgumentException($"an object-names key has {KeyDerivation.SubkeyLength} bytes, got {key.Length}", nameof(key));
        }

        _key = key.ToArray();
    }

    /// <summary>The folder (below <c>snapshots/</c>) of snapshot <paramref name="snapshotId"/> (<c>vm/100/2026-12-06T10:00:00Z</c>).</summary>
    public string Folder(string snapshotId)
    {
        ArgumentNullException.ThrowIfNull(snapshotId);
        return Mac("snapshot\0" + snapshotId);
    }

    /// <summary>
    /// The stored name, within the snapshot kind (<c>F/manifest.json</c>, <c>F/D</c>), of <paramref name="fileName"/>
    /// (a manifest, index or catalog) of snapshot <paramref name="snapshotId"/>. A string, not a storage name, so
    /// these primitives stay below the storage layer whose decorator uses them.
    /// </summary>
    public string NameOf(string snapshotId, string fileName)
    {
        ArgumentNullException.ThrowIfNull(fileName);
        var file = fileName == ManifestFile ? ManifestFile : Mac(string.Concat("file\0", snapshotId, "\0", fileName));
        return string.Concat(Folder(snapshotId), "/", file);
    }

    private string Mac(string text)
    {
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(text), mac);
        return Convert.ToHexStringLower(mac[..NameBytes]);
    }
}
