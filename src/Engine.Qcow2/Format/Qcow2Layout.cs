namespace Engine.Qcow2.Format;

/// <summary>
/// The geometry that follows from <c>cluster_bits</c> and the L2 entry width: cluster and subcluster sizes, entries
/// per table, and how a guest offset splits into L1 index, L2 index and offset in cluster.
/// </summary>
/// <param name="ClusterBits">log2 of the cluster size (9 to 21).</param>
/// <param name="ExtendedL2">Whether L2 entries are 128 bits with 32 subclusters per cluster.</param>
public readonly record struct Qcow2Layout(int ClusterBits, bool ExtendedL2)
{
    /// <summary>Smallest <c>cluster_bits</c> the specification allows (512-byte clusters).</summary>
    public const int MinClusterBits = 9;

    /// <summary>Largest <c>cluster_bits</c> qemu opens (2 MiB clusters); Engine keeps the same limit.</summary>
    public const int MaxClusterBits = 21;

    /// <summary>Smallest <c>cluster_bits</c> with extended L2 entries (16 KiB clusters).</summary>
    public const int MinExtendedL2ClusterBits = 14;

    /// <summary>Largest <c>refcount_order</c> (64-bit refcounts).</summary>
    public const int MaxRefcountOrder = 6;

    /// <summary><c>refcount_order</c> of every version 2 image (16-bit refcounts).</summary>
    public const int DefaultRefcountOrder = 4;

    /// <summary>Largest L1 table qemu opens, in bytes (32 MiB); Engine refuses larger ones the same way.</summary>
    public const int MaxL1TableBytes = 32 << 20;

    /// <summary>Largest refcount table qemu opens, in bytes (8 MiB).</summary>
    public const int MaxRefcountTableBytes = 8 << 20;

    /// <summary>Subclusters per cluster with extended L2 entries.</summary>
    public const int SubclustersPerExtendedCluster = 32;

    /// <summary>Width of an L1 or refcount table entry, in bytes.</summary>
    public const int TableEntrySize = 8;

    /// <summary>Cluster size in bytes.</summary>
    public int ClusterSize => 1 << ClusterBits;

    /// <summary>Width of one L2 entry in bytes (8, or 16 when extended).</summary>
    public int L2EntrySize => ExtendedL2 ? 16 : 8;

    /// <summary>log2 of <see cref="L2Entries"/>.</summary>
    public int L2Bits => ClusterBits - (ExtendedL2 ? 4 : 3);

    /// <summary>Entries in one L2 table (one cluster).</summary>
    public int L2Entries => 1 << L2Bits;

    /// <summary>Guest bytes one L2 table maps.</summary>
    public long BytesPerL2Table => 1L << (ClusterBits + L2Bits);

    /// <summary>Subclusters per cluster (1 without extended L2).</summary>
    public int SubclustersPerCluster => ExtendedL2 ? SubclustersPerExtendedCluster : 1;

    /// <summary>Size of a subcluster in bytes (the cluster size without extended L2).</summary>
    public int SubclusterSize => ClusterSize / SubclustersPerCluster;

    /// <summary>log2 of <see cref="SubclusterSize"/>.</summary>
    public int SubclusterBits => ExtendedL2 ? ClusterBits - 5 : ClusterBits;

    /// <summary>Entries in one L1 table or refcount table cluster.</summary>
    public int TableEntriesPerCluster => ClusterSize / TableEntrySize;

    /// <summary>L1 entries needed to map <paramref name="virtualSize"/> bytes.</summary>
    public ulong L1EntriesFor(ulong virtualSize) =>
        virtualSize == 0 ? 0 : ((virtualSize - 1) >> (ClusterBits + L2Bits)) + 1;

    /// <summary>Clusters needed to hold <paramref name="bytes"/> bytes.</summary>
    public ulong ClustersFor(ulong bytes) => bytes == 0 ? 0 : ((bytes - 1) >> ClusterBits) + 1;

    /// <summary>Refcount entries in one refcount block for the given <paramref name="refcountOrder"/>.</summary>
    public long RefcountBlockEntries(int refcountOrder) => (long)ClusterSize * 8 >> refcountOrder;

    /// <summary>The L1 index of <paramref name="guestOffset"/>.</summary>
    public long L1Index(long guestOffset) => guestOffset >> (ClusterBits + L2Bits);

    /// <summary>The L2 index of <paramref name="guestOffset"/> within its L2 table.</summary>
    public int L2Index(long guestOffset) => (int)((guestOffset >> ClusterBits) & (L2Entries - 1));

    /// <summary>The offset of <paramref name="offset"/> within its cluster.</summary>
    public int OffsetInCluster(long offset) => (int)(offset & (ClusterSize - 1));

    /// <summary>The start of the cluster holding <paramref name="offset"/>.</summary>
    public long ClusterStart(long offset) => offset & ~(long)(ClusterSize - 1);

    /// <summary>Whether <paramref name="offset"/> is a multiple of the cluster size.</summary>
    public bool IsClusterAligned(ulong offset) => (offset & (ulong)(ClusterSize - 1)) == 0;

    /// <summary>The subcluster index (0 to 31) of <paramref name="guestOffset"/> within its cluster.</summary>
    public int SubclusterIndex(long guestOffset) => OffsetInCluster(guestOffset) >> SubclusterBits;
}
