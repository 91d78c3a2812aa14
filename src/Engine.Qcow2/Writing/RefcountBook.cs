using System.Buffers.Binary;

namespace Engine.Qcow2.Writing;

/// <summary>
/// The image's refcounts as the writer keeps them: the refcount table and the blocks it has touched, in memory, with
/// the blocks and the table that changed since they were last written. Clusters are only ever appended at the end of
/// the file, so a freed cluster is never handed out again while the image is open: a write still in flight to it
/// cannot land in someone else's data.
/// </summary>
/// <remarks>
/// Only refcount order 4 (16-bit refcounts, qemu's default) is supported. Not thread-safe: the device calls it under
/// its metadata lock.
/// <para>
/// A refcount block for a range that has none is placed at the first free cluster, which then lies inside the range
/// it describes and so counts itself: allocation never recurses. That is also where qemu-img puts them in a fresh image.
/// </para>
/// </remarks>
internal sealed class RefcountBook
{
    private readonly HostFile _file;
    private readonly int _clusterBits;
    private readonly int _blockEntries;
    private readonly Dictionary<int, ushort[]> _blocks = [];
    private readonly SortedSet<int> _dirtyBlocks = [];
    private readonly List<long> _pendingFrees = [];
    private ulong[] _table;
    private long _tableOffset;
    private int _tableClusters;
    private bool _tableDirty;
    private (long Offset, int Clusters)? _oldTable;

    public RefcountBook(HostFile file, int clusterBits, ulong[] table, long tableOffset, int tableClusters, long nextFree)
    {
        _file = file;
        _clusterBits = clusterBits;
        _blockEntries = (1 << clusterBits) / 2;
        _table = table;
        _tableOffset = tableOffset;
        _tableClusters = tableClusters;
        NextFree = nextFree;
    }

    /// <summary>The first cluster index past everything allocated: where the next allocation goes.</summary>
    public long NextFree { get; private set; }

    public long TableOffset => _tableOffset;

    public int TableClusters => _tableClusters;

    /// <summary>Whether the refcount table moved since the header last said where it is.</summary>
    public bool TableMoved => _oldTable is not null;

    public bool HasDirtyBlocks => _dirtyBlocks.Count > 0;

    public bool HasPendingFrees => _pendingFrees.Count > 0;

    /// <summary>Allocates one cluster and returns its host offset; its refcount becomes 1.</summary>
    public long Allocate()
    {
        while (true)
        {
            var cluster = NextFree;
            var index = (int)(cluster / _blockEntries);
            if (EnsureTableCapacity(index))
            {
                // The new table took clusters (and maybe this very one): look again.
                continue;
            }

            NextFree++;
            if (_table[index] == 0)
            {
                // The range has no block yet: this cluster becomes it, counting itself.
                _table[index] = (ulong)cluster << _clusterBits;
                _blocks[index] = new ushort[_blockEntries];
                _tableDirty = true;
                SetRefcount(cluster, 1);
                continue;
            }

            SetRefcount(cluster, 1);
            return cluster << _clusterBits;
        }
    }

    /// <summary>Allocates <paramref name="count"/> clusters one after the other (for a table) and returns the first's host offset.</summary>
    public long AllocateContiguous(int count)
    {
        var start = Allocate();
        var have = 1;
        while (have < count)
        {
            var next = Allocate();
            if (next != start + ((long)have << _clusterBits))
            {
                // A refcount block landed in between: give the run back and start again after it.
                for (var i = 0; i < have; i++)
                {
                    SetRefcount((start >> _clusterBits) + i, 0);
                }

                start = next;
                have = 1;
                continue;
            }

            have++;
        }

        return start;
    }

    /// <summary>
    /// Drops the cluster at <paramref name="hostOffset"/> once the tables that pointed at it are durable: a refcount
    /// of 0 reaching the disk before the L2 entry that stops using the cluster would be corruption, a leak is not.
    /// </summary>
    public void FreeLater(long hostOffset) => _pendingFrees.Add(hostOffset);

    /// <summary>Applies the frees deferred by <see cref="FreeLater"/>; the caller has made the tables durable.</summary>
    public void ApplyPendingFrees()
    {
        foreach (var offset in _pendingFrees)
        {
            var cluster = offset >> _clusterBits;
            var block = Block((int)(cluster / _blockEntries));
            ref var count = ref block[(int)(cluster % _blockEntries)];
            if (count > 0)
            {
                count--;
                _dirtyBlocks.Add((int)(cluster / _blockEntries));
            }
        }

        _pendingFrees.Clear();
        if (_oldTable is { } old)
        {
            // The header names the new table now; the old one can go.
            for (var i = 0; i < old.Clusters; i++)
            {
                FreeLater(old.Offset + ((long)i << _clusterBits));
            }

            _oldTable = null;
            ApplyPendingFrees();
        }
    }

    /// <summary>Writes the refcount blocks that changed. The caller syncs before anything points at them.</summary>
    public void WriteBlocks()
    {
        var buffer = new byte[1 << _clusterBits];
        foreach (var index in _dirtyBlocks)
        {
            var block = _blocks[index];
            for (var i = 0; i < block.Length; i++)
            {
                BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(i * 2), block[i]);
            }

            _file.Write((long)(_table[index] & TableEntry.RefcountTableOffsetMask), buffer);
        }

        _dirtyBlocks.Clear();
    }

    /// <summary>Writes the refcount table if it changed (in place, or at its new home). Returns whether it wrote.</summary>
    public bool WriteTable()
    {
        if (!_tableDirty)
        {
            return false;
        }

        var buffer = new byte[(long)_tableClusters << _clusterBits];
        for (var i = 0; i < _table.Length && i * 8 < buffer.Length; i++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(buffer.AsSpan(i * 8), _table[i]);
        }

        _file.Write(_tableOffset, buffer);
        _tableDirty = false;
        return true;
    }

    private void SetRefcount(long cluster, ushort value)
    {
        var index = (int)(cluster / _blockEntries);
        Block(index)[(int)(cluster % _blockEntries)] = value;
        _dirtyBlocks.Add(index);
    }

    private ushort[] Block(int index)
    {
        if (_blocks.TryGetValue(index, out var block))
        {
            return block;
        }

        var offset = (long)(_table[index] & TableEntry.RefcountTableOffsetMask);
        var bytes = new byte[1 << _clusterBits];
        _file.Read(offset, bytes);
        block = new ushort[_blockEntries];
        for (var i = 0; i < block.Length; i++)
        {
            block[i] = BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(i * 2));
        }

        _blocks[index] = block;
        return block;
    }

    /// <summary>
    /// Makes room for table entry <paramref name="index"/>: a bigger table at the end of the file, written at the next
    /// flush. Returns whether the table moved (and so took clusters).
    /// </summary>
    private bool EnsureTableCapacity(int index)
    {
        var capacity = (_tableClusters << _clusterBits) / 8;
        if (index < capacity)
        {
            if (index >= _table.Length)
            {
                Array.Resize(ref _table, capacity);
            }

            return false;
        }

        var entriesPerCluster = (1 << _clusterBits) / 8;
        var clusters = Math.Max(_tableClusters * 2, (index / entriesPerCluster) + 2);
        var old = (_tableOffset, _tableClusters);

        // The entries grow first, so the table's own clusters (and any block they need) find room in it.
        Array.Resize(ref _table, clusters * entriesPerCluster);
        _tableClusters = clusters;
        _tableOffset = AllocateContiguous(clusters);
        _oldTable ??= old;
        _tableDirty = true;
        return true;
    }
}
