using System.Buffers.Binary;

namespace Engine.Qcow2.Writing;

/// <summary>
/// The guest-to-host mapping as the writer keeps it: the L1 table and the L2 tables it has loaded, in memory (host
/// byte order), with the tables that changed since they were last written.
/// </summary>
/// <remarks>
/// Readers look entries up without the metadata lock: an entry is one aligned 64-bit value, replaced whole, and an L2
/// table is published in <see cref="_l2"/> only once it is complete. Changes happen under the device's lock.
/// Every loaded L2 table stays in memory (64 KiB per 512 MiB of guest space with 64 KiB clusters): a bound set by
/// the image's size rather than by a cache.
/// </remarks>
internal sealed class ClusterMap
{
    private readonly HostFile _file;
    private readonly int _clusterBits;
    private readonly int _l2Bits;
    private readonly SortedSet<int> _dirtyL2 = [];
    private ulong[] _l1;
    private ulong[]?[] _l2;
    private bool _l1Dirty;
    private (long Offset, int Clusters)? _oldL1;

    public ClusterMap(HostFile file, int clusterBits, ulong[] l1, long l1Offset)
    {
        _file = file;
        _clusterBits = clusterBits;
        _l2Bits = clusterBits - 3;
        _l1 = l1;
        _l2 = new ulong[]?[l1.Length];
        L1Offset = l1Offset;
        L1Clusters = Clusters(l1.Length);
    }

    public long L1Offset { get; private set; }

    public int L1Clusters { get; private set; }

    /// <summary>Entries in the L1 table (the header's <c>l1_size</c>).</summary>
    public int L1Size => _l1.Length;

    public bool L1Moved => _oldL1 is not null;

    public bool HasDirtyL2 => _dirtyL2.Count > 0;

    public bool L1Dirty => _l1Dirty;

    /// <summary>The L2 entry of guest cluster <paramref name="cluster"/>, or null when its L2 table is not loaded yet.</summary>
    public ulong? TryGet(long cluster)
    {
        var l1Index = (int)(cluster >> _l2Bits);
        var l1 = Volatile.Read(ref _l1);
        if (l1Index >= l1.Length || (l1[l1Index] & TableEntry.OffsetMask) == 0)
        {
            return 0;
        }

        var table = Volatile.Read(ref _l2)[l1Index];
        return table is null ? null : Volatile.Read(ref table[(int)(cluster & ((1 << _l2Bits) - 1))]);
    }

    /// <summary>The L2 entry of <paramref name="cluster"/>, loading its table if needed. Under the lock.</summary>
    public ulong Get(long cluster) => TryGet(cluster) ?? Load((int)(cluster >> _l2Bits))[(int)(cluster & ((1 << _l2Bits) - 1))];

    /// <summary>Sets the L2 entry of <paramref name="cluster"/>, whose table exists (see <see cref="EnsureTable"/>). Under the lock.</summary>
    public void Set(long cluster, ulong entry)
    {
        var l1Index = (int)(cluster >> _l2Bits);
        var table = Load(l1Index);
        Volatile.Write(ref table[(int)(cluster & ((1 << _l2Bits) - 1))], entry);
        _dirtyL2.Add(l1Index);
    }

    /// <summary>Makes sure guest cluster <paramref name="cluster"/> has an L2 table, allocating an empty one. Under the lock.</summary>
    public void EnsureTable(long cluster, RefcountBook refcounts)
    {
        var l1Index = (int)(cluster >> _l2Bits);
        if ((_l1[l1Index] & TableEntry.OffsetMask) != 0)
        {
            Load(l1Index);
            return;
        }

        var offset = refcounts.Allocate();
        Volatile.Write(ref _l2[l1Index], new ulong[1 << _l2Bits]);
        _dirtyL2.Add(l1Index);
        Volatile.Write(ref _l1[l1Index], (ulong)offset | TableEntry.Copied);
        _l1Dirty = true;
    }

    /// <summary>Grows the L1 table to <paramref name="entries"/>, moving it to the end of the file if it no longer fits. Under the lock.</summary>
    public void Grow(int entries, RefcountBook refcounts)
    {
        if (entries <= _l1.Length)
        {
            return;
        }

        var l2 = new ulong[]?[entries];
        Array.Copy(_l2, l2, _l2.Length);
        var l1 = new ulong[entries];
        Array.Copy(_l1, l1, _l1.Length);
        Volatile.Write(ref _l2, l2);
        Volatile.Write(ref _l1, l1);
        _l1Dirty = true;
        var clusters = Clusters(entries);
        if (clusters > L1Clusters)
        {
            _oldL1 ??= (L1Offset, L1Clusters);
            L1Offset = refcounts.AllocateContiguous(clusters);
            L1Clusters = clusters;
        }
    }

    /// <summary>Writes the L2 tables that changed. The caller has made their data and refcounts durable first.</summary>
    public void WriteL2Tables()
    {
        var buffer = new byte[1 << _clusterBits];
        foreach (var index in _dirtyL2)
        {
            var table = _l2[index]!;
            for (var i = 0; i < table.Length; i++)
            {
                BinaryPrimitives.WriteUInt64BigEndian(buffer.AsSpan(i * 8), Volatile.Read(ref table[i]));
            }

            _file.Write(TableEntry.HostOffset(_l1[index]), buffer);
        }

        _dirtyL2.Clear();
    }

    /// <summary>Writes the L1 table if it changed. The caller has made the L2 tables it points at durable first.</summary>
    public void WriteL1()
    {
        if (!_l1Dirty)
        {
            return;
        }

        var buffer = new byte[(long)L1Clusters << _clusterBits];
        for (var i = 0; i < _l1.Length; i++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(buffer.AsSpan(i * 8), _l1[i]);
        }

        _file.Write(L1Offset, buffer);
        _l1Dirty = false;
    }

    /// <summary>Once the header names the new L1 table, the old one's clusters go back (deferred like any free).</summary>
    public void ReleaseOldL1(RefcountBook refcounts)
    {
        if (_oldL1 is { } old)
        {
            for (var i = 0; i < old.Clusters; i++)
            {
                refcounts.FreeLater(old.Offset + ((long)i << _clusterBits));
            }

            _oldL1 = null;
        }
    }

    private ulong[] Load(int l1Index)
    {
        var table = _l2[l1Index];
        if (table is not null)
        {
            return table;
        }

        var bytes = new byte[1 << _clusterBits];
        _file.Read(TableEntry.HostOffset(_l1[l1Index]), bytes);
        table = new ulong[1 << _l2Bits];
        for (var i = 0; i < table.Length; i++)
        {
            table[i] = BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(i * 8));
        }

        Volatile.Write(ref _l2[l1Index], table);
        return table;
    }

    private int Clusters(int entries) => Math.Max(1, (int)(((long)entries * 8 + (1 << _clusterBits) - 1) >> _clusterBits));
}
