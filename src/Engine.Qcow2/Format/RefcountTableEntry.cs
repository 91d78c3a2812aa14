using System.Buffers.Binary;

namespace Engine.Qcow2.Format;

/// <summary>A refcount table entry: the file offset of a refcount block, 0 when none is allocated.</summary>
/// <param name="Raw">The entry as stored (decoded from big-endian).</param>
public readonly record struct RefcountTableEntry(ulong Raw)
{
    /// <summary>Bits 9 to 63: the refcount block's offset.</summary>
    public const ulong OffsetMask = ~0x1ffUL;

    /// <summary>The refcount block's offset; 0 when all refcounts it would hold are 0.</summary>
    public ulong BlockOffset => Raw & OffsetMask;

    /// <summary>Whether reserved bits 0 to 8 are set.</summary>
    public bool HasReservedBits => (Raw & ~OffsetMask) != 0;

    /// <summary>An entry pointing at the refcount block at <paramref name="blockOffset"/> (cluster aligned).</summary>
    public static RefcountTableEntry Create(ulong blockOffset) => new(blockOffset & OffsetMask);

    /// <summary>Reads the 8-byte big-endian entry at the start of <paramref name="data"/>.</summary>
    public static RefcountTableEntry Parse(ReadOnlySpan<byte> data) => new(BinaryPrimitives.ReadUInt64BigEndian(data));

    /// <summary>Writes the entry as 8 big-endian bytes; returns 8.</summary>
    public int WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, Raw);
        return Qcow2Layout.TableEntrySize;
    }
}
