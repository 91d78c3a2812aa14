using Engine.Qcow2.Format;

namespace Engine.Qcow2.Writing;

/// <summary>
/// The bits of L1, L2 and refcount-table entries the writer sets and tests (standard 64-bit L2 entries only), as raw
/// words: the writer keeps its tables as <c>ulong[]</c> it changes in place, named here after the Format types' masks.
/// </summary>
internal static class TableEntry
{
    /// <summary>Bit 63 of L1 and L2 entries: the cluster's refcount is exactly one, so it may be written in place.</summary>
    public const ulong Copied = L2Entry.CopiedFlag;

    /// <summary>Bit 62 of L2 entries: a compressed cluster (the writer never writes these, and cannot read them).</summary>
    public const ulong Compressed = L2Entry.CompressedFlag;

    /// <summary>Bit 0 of a standard L2 entry (version 3): the cluster reads as zeroes.</summary>
    public const ulong Zero = L2Entry.ZeroFlag;

    /// <summary>Bits 9 to 55: the host offset of a standard cluster or of an L2 table.</summary>
    public const ulong OffsetMask = L2Entry.OffsetMask;

    /// <summary>Bits 9 to 63 of a refcount-table entry: the refcount block's host offset.</summary>
    public const ulong RefcountTableOffsetMask = RefcountTableEntry.OffsetMask;

    public static long HostOffset(ulong entry) => (long)(entry & OffsetMask);

    /// <summary>A standard, uncompressed cluster holding data that may be written in place.</summary>
    public static bool IsWritableData(ulong entry) =>
        (entry & (Copied | Compressed | Zero)) == Copied && (entry & OffsetMask) != 0;

    /// <summary>An entry that owns a host cluster (data or preallocated zero), whose refcount a rewrite must drop.</summary>
    public static bool OwnsCluster(ulong entry) => (entry & Compressed) == 0 && (entry & OffsetMask) != 0;
}
