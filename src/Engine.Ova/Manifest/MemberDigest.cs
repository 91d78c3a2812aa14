using System.Security.Cryptography;

namespace Engine.Ova.Manifest;

/// <summary>
/// Hashes a member's bytes as they stream past, with the manifest's algorithm, or with all three when the manifest
/// has not been seen yet (a pipe whose manifest comes after the disks).
/// </summary>
internal sealed class MemberDigest : IDisposable
{
    private readonly IncrementalHash?[] _hashes = new IncrementalHash?[3];

    /// <summary>Hashes with one algorithm, or with SHA1, SHA256 and SHA512 when <paramref name="algorithm"/> is null.</summary>
    public MemberDigest(HashAlgorithmName? algorithm)
    {
        if (algorithm is { } only)
        {
            _hashes[Slot(only)] = IncrementalHash.CreateHash(only);
        }
        else
        {
            _hashes[0] = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
            _hashes[1] = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            _hashes[2] = IncrementalHash.CreateHash(HashAlgorithmName.SHA512);
        }
    }

    private MemberDigest()
    {
    }

    /// <summary>A digest that hashes nothing, for files no manifest will check.</summary>
    public static MemberDigest None() => new();

    /// <summary>Whether the digest needs to see every byte (false for <see cref="None"/>: holes may be skipped unread).</summary>
    public bool NeedsData => Array.Exists(_hashes, hash => hash is not null);

    /// <summary>Adds bytes.</summary>
    public void Append(ReadOnlySpan<byte> data)
    {
        foreach (var hash in _hashes)
        {
            hash?.AppendData(data);
        }
    }

    /// <summary>Finishes and compares with <paramref name="entry"/>.</summary>
    /// <exception cref="OvaFormatException">The digest differs, naming the file and both values.</exception>
    public void Verify(ManifestEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var hash = _hashes[Slot(entry.Algorithm)] ?? throw new InvalidOperationException($"{entry.Algorithm.Name} was not computed");
        var actual = hash.GetHashAndReset();
        if (!CryptographicOperations.FixedTimeEquals(actual, entry.Digest))
        {
            throw new OvaFormatException($"manifest mismatch for '{entry.FileName}': {entry.Algorithm.Name} is {Convert.ToHexStringLower(actual)}, the manifest says {Convert.ToHexStringLower(entry.Digest)}");
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var hash in _hashes)
        {
            hash?.Dispose();
        }
    }

    private static int Slot(HashAlgorithmName algorithm) =>
        algorithm == HashAlgorithmName.SHA1 ? 0 : algorithm == HashAlgorithmName.SHA256 ? 1 : 2;
}
