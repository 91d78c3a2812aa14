using System.Runtime.CompilerServices;
using Engine.Blocks;

namespace Engine.Qcow2.Writing;

public sealed partial class Qcow2WritableDevice
{
    /// <summary>Where a run of guest clusters reads from.</summary>
    private enum Source
    {
        Host,
        Zero,
        Backing,
    }

    /// <inheritdoc />
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        CheckRange(offset, destination.Length, EINVAL, "read");
        var end = offset + destination.Length;

        // Consecutive clusters that read the same way (contiguous on the host, or all zero, or all from the backing
        // file) are read with one call.
        var runKind = Source.Zero;
        var runGuest = offset;
        var runHost = 0L;
        var position = offset;
        while (position < end)
        {
            var cluster = position >> _clusterBits;
            var within = position & (_clusterSize - 1);
            var pieceEnd = Piece(position, end).End;
            var entry = _map.TryGet(cluster) ?? await LoadEntryAsync(cluster, cancellationToken).ConfigureAwait(false);
            var (kind, host) = Classify(entry, cluster);
            if (position > runGuest && (kind != runKind || (kind == Source.Host && host + within != runHost + (position - runGuest))))
            {
                await ReadRunAsync(runKind, runGuest, runHost, destination.Slice((int)(runGuest - offset), (int)(position - runGuest)), cancellationToken).ConfigureAwait(false);
                runGuest = position;
            }

            if (position == runGuest)
            {
                runKind = kind;
                runHost = host + within;
            }

            position = pieceEnd;
        }

        await ReadRunAsync(runKind, runGuest, runHost, destination.Slice((int)(runGuest - offset), (int)(end - runGuest)), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<long> GetExtentsAsync(long offset, long length, ExtentList extents, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(extents);
        CheckRange(offset, length, EINVAL, "block status");
        if (length == 0)
        {
            throw new BlockDeviceException(EINVAL, $"{Path}: block status of 0 bytes at {offset}");
        }

        var end = offset + length;
        var position = offset;
        while (position < end)
        {
            var cluster = position >> _clusterBits;
            var pieceEnd = Piece(position, end).End;
            var entry = _map.TryGet(cluster) ?? await LoadEntryAsync(cluster, cancellationToken).ConfigureAwait(false);
            var flags = Classify(entry, cluster).Kind switch
            {
                Source.Host => ExtentFlags.Data,
                Source.Zero => ExtentFlags.HoleZero,

                // What the backing file holds there is its own business: report data, which is never wrong.
                _ => ExtentFlags.Data,
            };
            extents.Add(position, pieceEnd - position, flags);
            position = pieceEnd;
        }

        return length;
    }

    /// <summary>How guest cluster <paramref name="cluster"/> with L2 entry <paramref name="entry"/> reads, and its host offset.</summary>
    private (Source Kind, long Host) Classify(ulong entry, long cluster)
    {
        if ((entry & TableEntry.Compressed) != 0)
        {
            throw new BlockDeviceException(ENOTSUP, $"{Path}: guest offset {cluster << _clusterBits} is a compressed cluster, which the writer does not read");
        }

        if ((entry & TableEntry.Zero) != 0)
        {
            return (Source.Zero, 0);
        }

        var host = TableEntry.HostOffset(entry);
        if (host != 0)
        {
            return (Source.Host, host);
        }

        return _backing is not null && (cluster << _clusterBits) < _backing.Size ? (Source.Backing, 0) : (Source.Zero, 0);
    }

    private async ValueTask<ulong> LoadEntryAsync(long cluster, CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return _map.Get(cluster);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Reads guest bytes at <paramref name="guest"/> the way <paramref name="kind"/> says.</summary>
    private ValueTask ReadRunAsync(Source kind, long guest, long host, Memory<byte> destination, CancellationToken cancellationToken)
    {
        switch (kind)
        {
            case Source.Host:
                return _file.ReadAsync(host, destination, cancellationToken);
            case Source.Backing:
                return ReadBackingAsync(guest, destination, cancellationToken);
            default:
                destination.Span.Clear();
                return ValueTask.CompletedTask;
        }
    }

    /// <summary>Reads from the backing device; past its end the guest reads zeroes.</summary>
    private async ValueTask ReadBackingAsync(long guest, Memory<byte> destination, CancellationToken cancellationToken)
    {
        var inBacking = (int)Math.Clamp(_backing!.Size - guest, 0, destination.Length);
        if (inBacking > 0)
        {
            await _backing.ReadAsync(guest, destination[..inBacking], cancellationToken).ConfigureAwait(false);
        }

        destination.Span[inBacking..].Clear();
    }
}
