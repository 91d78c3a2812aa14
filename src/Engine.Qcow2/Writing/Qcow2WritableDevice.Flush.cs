namespace Engine.Qcow2.Writing;

public sealed partial class Qcow2WritableDevice
{
    /// <summary>
    /// Makes everything written so far durable and referenced, one dependency at a time (under the lock). Each step
    /// only points at what an earlier <c>fdatasync</c> made durable:
    /// <list type="number">
    /// <item>guest data and refcount blocks (a block counts clusters before anything uses them);</item>
    /// <item>the refcount table, which points at the blocks; then the header, if the table moved;</item>
    /// <item>L2 tables, which point at data clusters now counted;</item>
    /// <item>the L1 table, which points at the L2 tables; then the header, if the L1 table moved or the guest grew;</item>
    /// <item>only now the refcounts of clusters nothing points at any more drop (a crash before leaves a leak).</item>
    /// </list>
    /// </summary>
    private void FlushMetadata()
    {
        var nextEnd = _refcounts.NextFree << _clusterBits;
        if (_refcounts.HasDirtyBlocks)
        {
            _refcounts.WriteBlocks();
            _file.Extend(nextEnd);
        }

        _file.Sync();
        if (_refcounts.WriteTable())
        {
            _file.Sync();
        }

        if (_refcounts.TableMoved)
        {
            // Only the refcount table switches here: the L1 table and guest size stay the ones already durable, since
            // a new L1 is written only below (a header naming it now would, after a crash, map the disk as unallocated).
            WriteHeaderFields(_durable);
        }

        if (_map.HasDirtyL2)
        {
            _map.WriteL2Tables();
            _file.Sync();
        }

        if (_map.L1Dirty)
        {
            _map.WriteL1();
            _file.Sync();
        }

        if (_map.L1Moved || _headerDirty)
        {
            WriteHeaderFields((Size, _map.L1Offset, _map.L1Size));
            _map.ReleaseOldL1(_refcounts);
        }

        if (_refcounts.HasPendingFrees || _refcounts.TableMoved)
        {
            _refcounts.ApplyPendingFrees();
            _refcounts.WriteBlocks();
            _file.Sync();
        }
    }

    /// <summary>
    /// Rewrites the header's guest size, L1 and refcount table fields as one write, then syncs; the guest size and L1
    /// table are <paramref name="mapping"/>, which must already be durable, and become what a crash falls back to.
    /// </summary>
    private void WriteHeaderFields((long Size, long L1Offset, int L1Size) mapping)
    {
        Span<byte> fields = stackalloc byte[HeaderLayout.MutableLength];
        var at = HeaderLayout.MutableStart;
        HeaderLayout.Put(fields, HeaderLayout.Size - at, (ulong)mapping.Size);
        HeaderLayout.Put(fields, HeaderLayout.CryptMethod - at, 0u);
        HeaderLayout.Put(fields, HeaderLayout.L1Size - at, (uint)mapping.L1Size);
        HeaderLayout.Put(fields, HeaderLayout.L1TableOffset - at, (ulong)mapping.L1Offset);
        HeaderLayout.Put(fields, HeaderLayout.RefcountTableOffset - at, (ulong)_refcounts.TableOffset);
        HeaderLayout.Put(fields, HeaderLayout.RefcountTableClusters - at, (uint)_refcounts.TableClusters);
        _file.Write(at, fields);
        _file.Sync();
        _durable = mapping;
        _headerDirty = mapping.Size != Size || mapping.L1Offset != _map.L1Offset || mapping.L1Size != _map.L1Size;
    }
}
