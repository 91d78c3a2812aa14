using System.Buffers.Binary;

namespace Engine.Qcow2.Format;

/// <summary>An L1 table entry: the file offset of an L2 table (0 when unallocated) and the "copied" bit.</summary>
/// <param name="Raw">The entry as stored (decoded from big-endian).</param>
public readonly record struct L1Entry(ulong Raw)
{
    /// <summary>Bits 9 to 55: the L2 table's offset.</summary>
    public const ulong OffsetMask = 0x00ff_ffff_ffff_fe00UL;

    /// <summary>Bit 63: the L2 table's refcount is exactly one.</summary>
    public const ulong CopiedFlag = 1UL << 63;

    /// <summary>Bits that must be zero.</summary>
    public const ulong ReservedMask = ~(OffsetMask | CopiedFlag);

    /// <summary>The L2 table's file offset; 0 when the whole range it maps is unallocated.</summary>
    public ulong L2Offset => Raw & OffsetMask;

    /// <summary>Whether the L2 table's refcount is exactly one.</summary>
    public bool IsCopied => (Raw & CopiedFlag) != 0;

    /// <summary>Whether no L2 table is allocated.</summary>
    public bool IsUnallocated => L2Offset == 0;

    /// <summary>Whether reserved bits are set (qemu treats the image as corrupt).</summary>
    public bool HasReservedBits => (Raw & ReservedMask) != 0;

    /// <summary>An entry pointing at the L2 table at <paramref name="l2Offset"/> (cluster aligned).</summary>
    public static L1Entry Create(ulong l2Offset, bool copied) =>
        new((l2Offset & OffsetMask) | (copied ? CopiedFlag : 0));

    /// <summary>Reads the 8-byte big-endian entry at the start of <paramref name="data"/>.</summary>
    public static L1Entry Parse(ReadOnlySpan<byte> data) => new(BinaryPrimitives.ReadUInt64BigEndian(data));

    /// <summary>Writes the entry as 8 big-endian bytes; returns 8.</summary>
    public int WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, Raw);
        return Qcow2Layout.TableEntrySize;
    }
}
