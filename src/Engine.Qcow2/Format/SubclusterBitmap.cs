using System.Buffers.Binary;

namespace Engine.Qcow2.Format;

/// <summary>
/// The second 64 bits of an extended L2 entry: bit x (0 to 31) says subcluster x is allocated, bit 32 + x that it
/// reads as zeroes. Zero for compressed clusters.
/// </summary>
/// <param name="Raw">The bitmap as stored (decoded from big-endian).</param>
public readonly record struct SubclusterBitmap(ulong Raw)
{
    /// <summary>Bits of allocated subclusters.</summary>
    public uint Allocated => (uint)Raw;

    /// <summary>Bits of subclusters that read as zeroes.</summary>
    public uint Zero => (uint)(Raw >> 32);

    /// <summary>Whether some subcluster is both allocated and zero (invalid).</summary>
    public bool IsContradictory => (Allocated & Zero) != 0;

    /// <summary>A bitmap from its two halves.</summary>
    public static SubclusterBitmap Create(uint allocated, uint zero) => new(allocated | ((ulong)zero << 32));

    /// <summary>Whether subcluster <paramref name="index"/> is allocated.</summary>
    public bool IsAllocated(int index) => ((Allocated >> index) & 1) != 0;

    /// <summary>Whether subcluster <paramref name="index"/> reads as zeroes.</summary>
    public bool IsZero(int index) => ((Zero >> index) & 1) != 0;

    /// <summary>Reads the 8-byte big-endian bitmap at the start of <paramref name="data"/>.</summary>
    public static SubclusterBitmap Parse(ReadOnlySpan<byte> data) => new(BinaryPrimitives.ReadUInt64BigEndian(data));

    /// <summary>Writes the bitmap as 8 big-endian bytes; returns 8.</summary>
    public int WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, Raw);
        return 8;
    }
}
