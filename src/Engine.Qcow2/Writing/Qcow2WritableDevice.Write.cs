using System.Runtime.CompilerServices;
using Engine.Blocks;
using Engine.Blocks.Buffers;

namespace Engine.Qcow2.Writing;

public sealed partial class Qcow2WritableDevice
{
    /// <inheritdoc />
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, WriteFlags flags = WriteFlags.None, CancellationToken cancellationToken = default)
    {
        CheckRange(offset, source.Length, ENOSPC, "write");
        if (source.IsEmpty)
        {
            return;
        }

        if (_conversion && CoversWholeClusters(offset, source.Length))
        {
            await WriteAppendingAsync(offset, source, cancellationToken).ConfigureAwait(false);
        }
        else if (!await TryWriteInPlaceAsync(offset, source, cancellationToken).ConfigureAwait(false))
        {
            await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await WriteLockedAsync(offset, source, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _lock.Release();
            }
        }

        if ((flags & WriteFlags.Fua) != 0)
        {
            await FlushAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public ValueTask TrimAsync(long offset, long length, WriteFlags flags = WriteFlags.None, CancellationToken cancellationToken = default) =>
        ZeroRangeAsync(offset, length, deallocate: true, writeEdges: false, (flags & WriteFlags.Fua) != 0, "trim", cancellationToken);

    /// <inheritdoc />
    public ValueTask WriteZeroesAsync(long offset, long length, WriteZeroesFlags flags, CancellationToken cancellationToken = default) =>
        ZeroRangeAsync(offset, length, (flags & WriteZeroesFlags.MayPunchHole) != 0, writeEdges: (flags & WriteZeroesFlags.FastOnly) == 0,
            (flags & WriteZeroesFlags.Fua) != 0, "write zeroes", cancellationToken);

    /// <summary>
    /// Whether <c>[offset, offset + length)</c> is made of whole clusters (the last one may end at the end of the
    /// guest), so that no byte of a new cluster needs to be read from anywhere before it is written.
    /// </summary>
    private bool CoversWholeClusters(long offset, int length)
    {
        var end = offset + length;
        return (offset & (_clusterSize - 1)) == 0 && ((end & (_clusterSize - 1)) == 0 || end == Size);
    }

    /// <summary>
    /// A conversion's write (see <see cref="Qcow2CreateOptions.Conversion"/>): the clusters are allocated and published
    /// under the lock, which is then released, so several writes reach the file at once, each one pwrite per run of
    /// clusters contiguous on the host (new clusters are appended, so a request's clusters are one run). Publishing an
    /// entry before its data is written is what the ordinary path avoids; it is safe here because nothing reads the
    /// image while it is converted, and a crash leaves an image to delete anyway.
    /// </summary>
    private async ValueTask WriteAppendingAsync(long offset, ReadOnlyMemory<byte> source, CancellationToken cancellationToken)
    {
        // A trim or zeroing racing with this write may drop a cluster between the two steps: allocate again then.
        do
        {
            await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                AllocateWholeClusters(offset, offset + source.Length);
            }
            finally
            {
                _lock.Release();
            }
        }
        while (!await TryWriteInPlaceAsync(offset, source, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>Gives every cluster of <c>[offset, end)</c> that is not writable data a new host cluster. Under the lock.</summary>
    private void AllocateWholeClusters(long offset, long end)
    {
        var first = offset >> _clusterBits;
        var last = (end - 1) >> _clusterBits;

        // The L2 tables first, so the data clusters that follow are contiguous.
        for (var cluster = first; cluster <= last; cluster++)
        {
            _map.EnsureTable(cluster, _refcounts);
        }

        for (var cluster = first; cluster <= last; cluster++)
        {
            var entry = _map.Get(cluster);
            if (TableEntry.IsWritableData(entry))
            {
                continue;
            }

            var fresh = _refcounts.Allocate();
            if (TableEntry.OwnsCluster(entry))
            {
                _refcounts.FreeLater(TableEntry.HostOffset(entry));
            }

            _map.Set(cluster, (ulong)fresh | TableEntry.Copied);
        }
    }

    /// <summary>
    /// The common case once a cluster exists: every cluster of the range is plain data with refcount 1, so the bytes go
    /// straight to the file without the lock. False (nothing written) when any cluster needs allocating.
    /// </summary>
    private async ValueTask<bool> TryWriteInPlaceAsync(long offset, ReadOnlyMemory<byte> source, CancellationToken cancellationToken)
    {
        var end = offset + source.Length;
        var first = offset >> _clusterBits;
        var last = (end - 1) >> _clusterBits;
        for (var cluster = first; cluster <= last; cluster++)
        {
            if (_map.TryGet(cluster) is not { } entry || !TableEntry.IsWritableData(entry))
            {
                return false;
            }
        }

        var position = offset;
        while (position < end)
        {
            // One write per run of clusters that are contiguous on the host.
            var host = TableEntry.HostOffset(_map.TryGet(position >> _clusterBits)!.Value) + (position & (_clusterSize - 1));
            var runEnd = Math.Min(end, ((position >> _clusterBits) + 1) << _clusterBits);
            while (runEnd < end && TableEntry.HostOffset(_map.TryGet(runEnd >> _clusterBits)!.Value) == host + (runEnd - position))
            {
                runEnd = Math.Min(end, runEnd + _clusterSize);
            }

            await _file.WriteAsync(host, source.Slice((int)(position - offset), (int)(runEnd - position)), cancellationToken).ConfigureAwait(false);
            position = runEnd;
        }

        return true;
    }

    /// <summary>
    /// Writes a range whose clusters may need allocating, under the lock. New clusters are taken from the end of the
    /// file (after any L2 table the range needs, so that the data stays contiguous); a partial new cluster is filled
    /// from what the guest read there before (the old cluster, the backing file or zeroes). The entries change only
    /// once the data is written, so no reader ever follows an entry to unwritten bytes.
    /// </summary>
    private async ValueTask WriteLockedAsync(long offset, ReadOnlyMemory<byte> source, CancellationToken cancellationToken)
    {
        var end = offset + source.Length;
        var first = offset >> _clusterBits;
        var last = (end - 1) >> _clusterBits;
        for (var cluster = first; cluster <= last; cluster++)
        {
            _map.EnsureTable(cluster, _refcounts);
        }

        _updates.Clear();
        var runHost = -1L;
        var runStart = offset;
        var position = offset;
        while (position < end)
        {
            var cluster = position >> _clusterBits;
            var (clusterStart, pieceEnd) = Piece(position, end);
            var entry = _map.Get(cluster);
            long host;
            if (TableEntry.IsWritableData(entry))
            {
                host = TableEntry.HostOffset(entry) + (position - clusterStart);
            }
            else
            {
                var fresh = _refcounts.Allocate();
                if (TableEntry.OwnsCluster(entry))
                {
                    _refcounts.FreeLater(TableEntry.HostOffset(entry));
                }

                _updates.Add((cluster, (ulong)fresh | TableEntry.Copied));
                if (position != clusterStart || pieceEnd != clusterStart + _clusterSize)
                {
                    // Copy-on-write: the rest of the new cluster keeps what the guest saw there.
                    await WriteRunAsync(runHost, source, runStart - offset, position - runStart, cancellationToken).ConfigureAwait(false);
                    runHost = -1;
                    using var whole = BufferPool.Shared.Rent(_clusterSize);
                    var (kind, oldHost) = Classify(entry, cluster);
                    await ReadRunAsync(kind, clusterStart, oldHost, whole.Memory, cancellationToken).ConfigureAwait(false);
                    source.Span.Slice((int)(position - offset), (int)(pieceEnd - position)).CopyTo(whole.Span[(int)(position - clusterStart)..]);
                    await _file.WriteAsync(fresh, whole.Memory, cancellationToken).ConfigureAwait(false);
                    position = pieceEnd;
                    runStart = position;
                    continue;
                }

                host = fresh;
            }

            if (runHost < 0 || host != runHost + (position - runStart))
            {
                await WriteRunAsync(runHost, source, runStart - offset, position - runStart, cancellationToken).ConfigureAwait(false);
                runHost = host;
                runStart = position;
            }

            position = pieceEnd;
        }

        await WriteRunAsync(runHost, source, runStart - offset, position - runStart, cancellationToken).ConfigureAwait(false);
        foreach (var (cluster, entry) in _updates)
        {
            _map.Set(cluster, entry);
        }

        _updates.Clear();
    }

    private ValueTask WriteRunAsync(long host, ReadOnlyMemory<byte> source, long start, long length, CancellationToken cancellationToken) =>
        host < 0 || length == 0 ? ValueTask.CompletedTask : _file.WriteAsync(host, source.Slice((int)start, (int)length), cancellationToken);

    /// <summary>
    /// Zeroes a range. Whole clusters only change their entries: unallocated (or a zero cluster over a backing file)
    /// when <paramref name="deallocate"/>, else the zero flag on the cluster they keep. Partial clusters at the edges are
    /// written with zeroes, unless they read as zeroes already. Without <paramref name="writeEdges"/> (a trim, which is
    /// only a hint, or a fast zero, which must not write) they are left alone, and a fast zero whose edges would need
    /// writing fails with ENOTSUP before anything changes.
    /// </summary>
    private async ValueTask ZeroRangeAsync(long offset, long length, bool deallocate, bool writeEdges, bool fua, string operation, CancellationToken cancellationToken)
    {
        CheckRange(offset, length, ENOSPC, operation);
        if (length == 0)
        {
            return;
        }

        var end = offset + length;
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!writeEdges && operation != "trim")
            {
                RefuseSlowZero(offset, end);
            }

            var position = offset;
            while (position < end)
            {
                var cluster = position >> _clusterBits;
                var (clusterStart, pieceEnd) = Piece(position, end);
                var entry = _map.Get(cluster);
                var readsZero = Classify(entry, cluster).Kind == Source.Zero;
                if (position != clusterStart || pieceEnd != clusterStart + _clusterSize)
                {
                    if (!readsZero && writeEdges)
                    {
                        await WriteLockedAsync(position, _zeroCluster.AsMemory(0, (int)(pieceEnd - position)), cancellationToken).ConfigureAwait(false);
                    }
                }
                else
                {
                    ZeroWholeCluster(cluster, entry, readsZero, deallocate);
                }

                position = pieceEnd;
            }
        }
        finally
        {
            _lock.Release();
        }

        if (fua)
        {
            await FlushAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Fails a fast zero whose partial edge clusters would need writing, before anything changes.</summary>
    private void RefuseSlowZero(long offset, long end)
    {
        foreach (var edge in (ReadOnlySpan<long>)[offset, end - 1])
        {
            var cluster = edge >> _clusterBits;
            var clusterStart = cluster << _clusterBits;
            var partial = offset > clusterStart || end < clusterStart + _clusterSize;
            if (partial && Classify(_map.Get(cluster), cluster).Kind != Source.Zero)
            {
                throw new BlockDeviceException(ENOTSUP, $"{Path}: zeroing part of the cluster at {clusterStart} means writing zeroes (fast zero refused)");
            }
        }
    }

    private void ZeroWholeCluster(long cluster, ulong entry, bool readsZero, bool deallocate)
    {
        ulong replacement;
        if (!deallocate && TableEntry.IsWritableData(entry))
        {
            // Keep the cluster (the caller asked for an allocated range), marked as reading zeroes.
            replacement = entry | TableEntry.Zero;
        }
        else if (readsZero && (deallocate ? !TableEntry.OwnsCluster(entry) : true))
        {
            return;
        }
        else
        {
            // Over a backing file, "unallocated" would show the backing data again: a zero cluster hides it.
            replacement = _backing is not null ? TableEntry.Zero : 0;
            if (TableEntry.OwnsCluster(entry))
            {
                _refcounts.FreeLater(TableEntry.HostOffset(entry));
            }
        }

        if (replacement != entry)
        {
            _map.EnsureTable(cluster, _refcounts);
            _map.Set(cluster, replacement);
        }
    }
}
