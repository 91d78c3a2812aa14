namespace Engine.Qcow2.Format;

/// <summary>
/// Where a compressed cluster's data is: a byte offset (not aligned) and the number of 512-byte sectors beyond the
/// one holding that offset. The split between the two fields depends on <c>cluster_bits</c>.
/// </summary>
/// <param name="HostOffset">File offset of the compressed data.</param>
/// <param name="AdditionalSectors">512-byte sectors used beyond the one containing <paramref name="HostOffset"/>.</param>
public readonly record struct CompressedClusterDescriptor(ulong HostOffset, ulong AdditionalSectors)
{
    /// <summary>The sector unit of the size field.</summary>
    public const int SectorSize = 512;

    /// <summary>
    /// Bytes from <see cref="HostOffset"/> to the end of the last sector: an upper bound of the compressed data's
    /// length (the data may end earlier; decompression stops at one cluster of output).
    /// </summary>
    public ulong MaxCompressedLength => (AdditionalSectors + 1) * SectorSize - (HostOffset & (SectorSize - 1));

    /// <summary>Bit at which the sector count starts: 62 - (cluster_bits - 8).</summary>
    public static int SizeShift(int clusterBits) => 62 - (clusterBits - 8);

    /// <summary>Mask of the offset field for <paramref name="clusterBits"/>.</summary>
    public static ulong OffsetMask(int clusterBits) => (1UL << SizeShift(clusterBits)) - 1;

    /// <summary>Mask of the sector count (after shifting) for <paramref name="clusterBits"/>.</summary>
    public static ulong SectorsMask(int clusterBits) => (1UL << (clusterBits - 8)) - 1;

    /// <summary>The descriptor in bits 0 to 61 of <paramref name="entry"/> (flag bits are ignored).</summary>
    public static CompressedClusterDescriptor Decode(ulong entry, int clusterBits) =>
        new(entry & OffsetMask(clusterBits), (entry >> SizeShift(clusterBits)) & SectorsMask(clusterBits));

    /// <summary>The descriptor for the compressed data at <paramref name="hostOffset"/> of <paramref name="compressedLength"/> bytes.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The data spans more sectors than the field holds.</exception>
    public static CompressedClusterDescriptor For(ulong hostOffset, int compressedLength, int clusterBits)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(compressedLength);
        var lastByte = hostOffset + (ulong)compressedLength - 1;
        var additional = (lastByte / SectorSize) - (hostOffset / SectorSize);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(additional, SectorsMask(clusterBits), nameof(compressedLength));
        return new CompressedClusterDescriptor(hostOffset, additional);
    }

    /// <summary>Bits 0 to 61 of the L2 entry (without the compressed flag).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A field does not fit its width.</exception>
    public ulong Encode(int clusterBits)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(HostOffset, OffsetMask(clusterBits), nameof(HostOffset));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(AdditionalSectors, SectorsMask(clusterBits), nameof(AdditionalSectors));
        return HostOffset | (AdditionalSectors << SizeShift(clusterBits));
    }
}
