using System.Buffers.Binary;

namespace Engine.Qcow2.Format;

/// <summary>
/// The first (or only) 64 bits of an L2 table entry: a standard cluster descriptor (host offset, zero bit) or a
/// compressed one (<see cref="GetCompressed"/>), with the compressed and "copied" flags.
/// </summary>
/// <param name="Raw">The entry as stored (decoded from big-endian).</param>
public readonly record struct L2Entry(ulong Raw)
{
    /// <summary>Width of a standard entry.</summary>
    public const int Size = 8;

    /// <summary>Bits 9 to 55 of a standard descriptor: the host cluster offset.</summary>
    public const ulong OffsetMask = 0x00ff_ffff_ffff_fe00UL;

    /// <summary>Bit 0 of a standard descriptor: the cluster reads as zeroes (version 3 without extended L2).</summary>
    public const ulong ZeroFlag = 1UL;

    /// <summary>Bit 62: the cluster is compressed.</summary>
    public const ulong CompressedFlag = 1UL << 62;

    /// <summary>Bit 63: a standard cluster whose refcount is exactly one.</summary>
    public const ulong CopiedFlag = 1UL << 63;

    /// <summary>Reserved bits of a standard descriptor (1 to 8 and 56 to 61).</summary>
    public const ulong StandardReservedMask = 0x3f00_0000_0000_01feUL;

    /// <summary>The unallocated entry.</summary>
    public static L2Entry Unallocated => default;

    /// <summary>Whether the cluster is compressed.</summary>
    public bool IsCompressed => (Raw & CompressedFlag) != 0;

    /// <summary>Whether a standard cluster's refcount is exactly one.</summary>
    public bool IsCopied => (Raw & CopiedFlag) != 0;

    /// <summary>The host cluster offset of a standard cluster (0 when none).</summary>
    public ulong HostOffset => IsCompressed ? 0 : Raw & OffsetMask;

    /// <summary>Whether a standard descriptor has bit 0 set (only meaningful in version 3 without extended L2).</summary>
    public bool HasZeroFlag => !IsCompressed && (Raw & ZeroFlag) != 0;

    /// <summary>Whether a standard descriptor has reserved bits set.</summary>
    public bool HasReservedBits => !IsCompressed && (Raw & StandardReservedMask) != 0;

    /// <summary>Whether the entry is all zero: unallocated, reads from the backing file.</summary>
    public bool IsUnallocated => Raw == 0;

    /// <summary>The compressed descriptor of a compressed cluster, for an image with <paramref name="clusterBits"/>.</summary>
    public CompressedClusterDescriptor GetCompressed(int clusterBits) => CompressedClusterDescriptor.Decode(Raw, clusterBits);

    /// <summary>A standard entry mapping to <paramref name="hostOffset"/> (cluster aligned).</summary>
    public static L2Entry Standard(ulong hostOffset, bool copied, bool zero = false) =>
        new((hostOffset & OffsetMask) | (copied ? CopiedFlag : 0) | (zero ? ZeroFlag : 0));

    /// <summary>A compressed entry for <paramref name="descriptor"/> in an image with <paramref name="clusterBits"/>.</summary>
    public static L2Entry Compressed(CompressedClusterDescriptor descriptor, int clusterBits) =>
        new(CompressedFlag | descriptor.Encode(clusterBits));

    /// <summary>Reads the 8-byte big-endian entry at the start of <paramref name="data"/>.</summary>
    public static L2Entry Parse(ReadOnlySpan<byte> data) => new(BinaryPrimitives.ReadUInt64BigEndian(data));

    /// <summary>Writes the entry as 8 big-endian bytes; returns 8.</summary>
    public int WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, Raw);
        return Size;
    }
}
