using System.Buffers.Binary;

namespace Engine.Qcow2.Format;

/// <summary>
/// A bitmap table entry: the file offset of one cluster of bitmap data, or, when 0, whether that cluster reads as all
/// zeroes or all ones.
/// </summary>
/// <param name="Raw">The entry as stored (decoded from big-endian).</param>
public readonly record struct BitmapTableEntry(ulong Raw)
{
    /// <summary>Bits 9 to 55: the data cluster's offset.</summary>
    public const ulong OffsetMask = 0x00ff_ffff_ffff_fe00UL;

    /// <summary>Bit 0 when the offset is 0: the cluster reads as all ones.</summary>
    public const ulong AllOnesFlag = 1UL;

    /// <summary>The data cluster's offset; 0 when the cluster is not stored.</summary>
    public ulong DataOffset => Raw & OffsetMask;

    /// <summary>Whether an unstored cluster reads as all ones (otherwise all zeroes).</summary>
    public bool ReadsAsOnes => DataOffset == 0 && (Raw & AllOnesFlag) != 0;

    /// <summary>Whether reserved bits are set (bits 1 to 8 and 56 to 63, or bit 0 beside an offset).</summary>
    public bool HasReservedBits =>
        (Raw & ~(OffsetMask | AllOnesFlag)) != 0 || (DataOffset != 0 && (Raw & AllOnesFlag) != 0);

    /// <summary>An entry for the data cluster at <paramref name="dataOffset"/>.</summary>
    public static BitmapTableEntry Stored(ulong dataOffset) => new(dataOffset & OffsetMask);

    /// <summary>An entry for a cluster that is not stored and reads as all ones or all zeroes.</summary>
    public static BitmapTableEntry Unstored(bool allOnes) => new(allOnes ? AllOnesFlag : 0);

    /// <summary>Reads the 8-byte big-endian entry at the start of <paramref name="data"/>.</summary>
    public static BitmapTableEntry Parse(ReadOnlySpan<byte> data) => new(BinaryPrimitives.ReadUInt64BigEndian(data));

    /// <summary>Writes the entry as 8 big-endian bytes; returns 8.</summary>
    public int WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, Raw);
        return Qcow2Layout.TableEntrySize;
    }
}
