using System.Buffers.Binary;

namespace Engine.Qcow2.Format;

/// <summary>
/// Reads and writes entries of a refcount block (one cluster) of width 1 &lt;&lt; refcount_order bits: sub-byte widths
/// pack from the least significant bit, wider ones are big-endian.
/// </summary>
public static class RefcountBlock
{
    /// <summary>Largest refcount an entry of <paramref name="refcountOrder"/> holds.</summary>
    public static ulong MaxRefcount(int refcountOrder) =>
        refcountOrder == Qcow2Layout.MaxRefcountOrder ? ulong.MaxValue : (1UL << (1 << refcountOrder)) - 1;

    /// <summary>The refcount at <paramref name="index"/> of <paramref name="block"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The order is above 6 or the index lies outside the block.</exception>
    public static ulong Get(ReadOnlySpan<byte> block, int index, int refcountOrder)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        switch (refcountOrder)
        {
            case < 3 and >= 0:
                var perByte = 8 >> refcountOrder;
                var shift = index % perByte << refcountOrder;
                return (ulong)(block[index / perByte] >> shift) & MaxRefcount(refcountOrder);
            case 3:
                return block[index];
            case 4:
                return BinaryPrimitives.ReadUInt16BigEndian(block[(index * 2)..]);
            case 5:
                return BinaryPrimitives.ReadUInt32BigEndian(block[(index * 4)..]);
            case 6:
                return BinaryPrimitives.ReadUInt64BigEndian(block[(index * 8)..]);
            default:
                throw new ArgumentOutOfRangeException(nameof(refcountOrder), refcountOrder, "refcount_order is 0 to 6");
        }
    }

    /// <summary>Sets the refcount at <paramref name="index"/> of <paramref name="block"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value does not fit the width, the order is above 6 or the index lies outside the block.</exception>
    public static void Set(Span<byte> block, int index, int refcountOrder, ulong value)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)refcountOrder, (uint)Qcow2Layout.MaxRefcountOrder, nameof(refcountOrder));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(value, MaxRefcount(refcountOrder), nameof(value));
        switch (refcountOrder)
        {
            case < 3:
                var perByte = 8 >> refcountOrder;
                var shift = index % perByte << refcountOrder;
                var mask = (int)MaxRefcount(refcountOrder) << shift;
                ref var b = ref block[index / perByte];
                b = (byte)((b & ~mask) | ((int)value << shift));
                break;
            case 3:
                block[index] = (byte)value;
                break;
            case 4:
                BinaryPrimitives.WriteUInt16BigEndian(block[(index * 2)..], (ushort)value);
                break;
            case 5:
                BinaryPrimitives.WriteUInt32BigEndian(block[(index * 4)..], (uint)value);
                break;
            default:
                BinaryPrimitives.WriteUInt64BigEndian(block[(index * 8)..], value);
                break;
        }
    }
}
