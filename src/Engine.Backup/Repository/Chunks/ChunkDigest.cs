using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Engine.Backup.Repository.Chunks;

/// <summary>
/// The SHA-256 of a chunk's uncompressed content: its name in the repository. A cryptographic hash, because a guest
/// controls the data and could otherwise craft collisions that poison deduplication. Laid out as exactly 32 bytes so
/// an index file maps straight onto a span of digests. The all-zero value <see cref="Zero"/> is a sentinel for a chunk
/// whose bytes are all zero; such a chunk is never stored.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = Length)]
public readonly struct ChunkDigest : IEquatable<ChunkDigest>
{
    /// <summary>Bytes in a digest.</summary>
    internal const int Length = 32;

    private readonly ulong _a;
    private readonly ulong _b;
    private readonly ulong _c;
    private readonly ulong _d;

    /// <summary>The sentinel of an all-zero chunk: 32 zero bytes (no SHA-256 output is known to be that).</summary>
    public static ChunkDigest Zero => default;

    /// <summary>Whether this is the <see cref="Zero"/> sentinel.</summary>
    public bool IsZero => (_a | _b | _c | _d) == 0;

    /// <summary>SHA-256 of <paramref name="data"/> (hardware accelerated where the CPU has SHA extensions).</summary>
    internal static ChunkDigest Compute(ReadOnlySpan<byte> data)
    {
        Span<byte> hash = stackalloc byte[Length];
        SHA256.HashData(data, hash);
        return Read(hash);
    }

    /// <summary><see cref="Zero"/> when every byte of <paramref name="data"/> is zero, otherwise <see cref="Compute"/>.</summary>
    internal static ChunkDigest ComputeOrZero(ReadOnlySpan<byte> data) =>
        data.IndexOfAnyExcept((byte)0) < 0 ? Zero : Compute(data);

    /// <summary>Reads a digest from its 32-byte binary form.</summary>
    /// <exception cref="ArgumentException">Fewer than 32 bytes.</exception>
    internal static ChunkDigest Read(ReadOnlySpan<byte> source)
    {
        if (source.Length < Length)
        {
            throw new ArgumentException($"a digest needs {Length} bytes, got {source.Length}", nameof(source));
        }

        return MemoryMarshal.Read<ChunkDigest>(source);
    }

    /// <summary>Writes the 32-byte binary form.</summary>
    /// <exception cref="ArgumentException">Fewer than 32 bytes of room.</exception>
    internal void CopyTo(Span<byte> destination)
    {
        if (destination.Length < Length)
        {
            throw new ArgumentException($"a digest needs {Length} bytes, got {destination.Length}", nameof(destination));
        }

        var self = this;
        MemoryMarshal.Write(destination, in self);
    }

    /// <summary>Lowercase hex, 64 characters: the chunk's file name.</summary>
    public override string ToString() => Convert.ToHexStringLower(AsBytes(in this));

    /// <summary>Parses 64 hex digits.</summary>
    /// <exception cref="FormatException">Not 64 hex digits.</exception>
    public static ChunkDigest Parse(string hex)
    {
        ArgumentNullException.ThrowIfNull(hex);
        return TryParse(hex, out var digest) ? digest : throw new FormatException($"'{hex}' is not a 64-digit hex chunk digest");
    }

    /// <summary>Parses 64 hex digits; false when the text is anything else.</summary>
    public static bool TryParse(ReadOnlySpan<char> hex, out ChunkDigest digest)
    {
        digest = default;
        if (hex.Length != Length * 2)
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[Length];
        if (Convert.FromHexString(hex, bytes, out _, out var written) != System.Buffers.OperationStatus.Done || written != Length)
        {
            return false;
        }

        digest = Read(bytes);
        return true;
    }

    /// <inheritdoc />
    public bool Equals(ChunkDigest other) => _a == other._a && _b == other._b && _c == other._c && _d == other._d;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is ChunkDigest other && Equals(other);

    /// <summary>The first 8 bytes: already uniformly distributed.</summary>
    public override int GetHashCode() => (int)_a ^ (int)(_a >> 32);

    /// <summary>Equality of the 32 bytes.</summary>
    public static bool operator ==(ChunkDigest left, ChunkDigest right) => left.Equals(right);

    /// <summary>Inequality of the 32 bytes.</summary>
    public static bool operator !=(ChunkDigest left, ChunkDigest right) => !left.Equals(right);

    private static ReadOnlySpan<byte> AsBytes(in ChunkDigest digest) =>
        MemoryMarshal.AsBytes(new ReadOnlySpan<ChunkDigest>(in digest));
}
