using Engine.Blocks;
using Engine.Blocks.Devices;

namespace Engine.Qcow2.Reading;

/// <summary>Allocation status (<c>base:allocation</c>) and allocation depth (<c>qemu:allocation-depth</c>), as qemu reports them.</summary>
public sealed partial class Qcow2BlockDevice
{
    /// <summary>Runs looked at per query at most, so a query over a huge, fragmented range returns a prefix in bounded time.</summary>
    private const int MaxRunsPerQuery = 4096;

    /// <summary>
    /// Data and compressed clusters are data; zero clusters read as zeroes without data (hole and zero, as qemu's
    /// block status reports them); unallocated ranges take the backing chain's status, or are holes reading as zero
    /// where there is no backing file or it is shorter.
    /// </summary>
    /// <inheritdoc />
    public async ValueTask<long> GetExtentsAsync(long offset, long length, ExtentList extents, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ArgumentNullException.ThrowIfNull(extents);
        ThrowIfDisposed();
        DeviceRange.CheckNonEmpty(offset, length, Size, "block status", Path);
        var covered = 0L;
        for (var runs = 0; covered < length && runs < MaxRunsPerQuery; runs++)
        {
            var at = offset + covered;
            var run = Map(at, length - covered);
            switch (run.Kind)
            {
                case ClusterRunKind.Data when _image.MetadataPreallocation:
                    covered += HostExtents(at, run.Length, (long)run.HostOffset, extents);
                    break;
                case ClusterRunKind.Data or ClusterRunKind.Compressed:
                    extents.Add(at, run.Length, ExtentFlags.Data);
                    covered += run.Length;
                    break;
                case ClusterRunKind.Zero:
                    extents.Add(at, run.Length, ExtentFlags.HoleZero);
                    covered += run.Length;
                    break;
                default:
                    covered += await BackingExtentsAsync(at, run.Length, extents, cancellationToken);
                    break;
            }
        }

        return covered;
    }

    /// <summary>
    /// <c>qemu:allocation-depth</c>, as qemu-nbd reports it: 0 where no image of the chain allocates the range, 1
    /// where this image does (data, compressed or zero clusters), 2 where its backing file does, and so on; a raw
    /// backing file allocates everything up to its size, and past the end of a shorter backing file the range counts
    /// as the backing file's. The shape of <see cref="ExtentQuery"/>.
    /// </summary>
    public ValueTask<long> GetAllocationDepthAsync(long offset, long length, ExtentList extents, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ArgumentNullException.ThrowIfNull(extents);
        ThrowIfDisposed();
        DeviceRange.CheckNonEmpty(offset, length, Size, "allocation depth", Path);
        return AllocationDepthAsync(offset, length, extents, 1, cancellationToken);
    }

    private async ValueTask<long> AllocationDepthAsync(long offset, long length, ExtentList extents, uint depth, CancellationToken cancellationToken)
    {
        var covered = 0L;
        for (var runs = 0; covered < length && runs < MaxRunsPerQuery; runs++)
        {
            var at = offset + covered;
            var run = Map(at, length - covered);
            if (run.Kind != ClusterRunKind.Unallocated)
            {
                extents.Add(at, run.Length, (ExtentFlags)depth);
                covered += run.Length;
                continue;
            }

            var inBacking = _backing is null ? 0 : Math.Clamp(_backing.Size - at, 0, run.Length);
            if (inBacking == 0)
            {
                // Past the end of a shorter backing file qemu-nbd reports the backing file's depth, not 0.
                extents.Add(at, run.Length, _backing is null ? 0 : (ExtentFlags)(depth + 1));
                covered += run.Length;
            }
            else if (_backing is Qcow2BlockDevice qcow2)
            {
                covered += await qcow2.AllocationDepthAsync(at, inBacking, extents, depth + 1, cancellationToken);
            }
            else
            {
                extents.Add(at, inBacking, (ExtentFlags)(depth + 1));
                covered += inBacking;
            }
        }

        return covered;
    }

    /// <summary>
    /// A data run of an image qemu takes for preallocated: where the file has a hole under it, or ends, the run reads
    /// as zeroes and is reported as data that reads as zero (qemu's BDRV_BLOCK_RECURSE). Returns the bytes covered.
    /// </summary>
    private long HostExtents(long offset, long length, long hostOffset, ExtentList extents)
    {
        var covered = 0L;
        while (covered < length)
        {
            var n = _image.DataFile.ProbeData(hostOffset + covered, length - covered, out var isData);
            extents.Add(offset + covered, n, isData ? ExtentFlags.Data : ExtentFlags.Zero);
            covered += n;
        }

        return covered;
    }

    /// <summary>Extents of an unallocated run: the backing file's where it reaches, holes reading as zero beyond.</summary>
    private async ValueTask<long> BackingExtentsAsync(long offset, long length, ExtentList extents, CancellationToken cancellationToken)
    {
        var inBacking = _backing is null ? 0 : Math.Clamp(_backing.Size - offset, 0, length);
        if (inBacking == 0)
        {
            extents.Add(offset, length, ExtentFlags.HoleZero);
            return length;
        }

        return await _backing!.GetExtentsAsync(offset, inBacking, extents, cancellationToken);
    }
}
