using Engine.Blocks;
using Engine.Blocks.Devices;
using Engine.Nbd.Server.MetaContexts;

namespace Engine.Interop.Tests.Backup;

/// <summary>
/// What PVE's snapshot access promises and enforces, over a memory disk: reads outside the dirty regions fail
/// with EIO, and the dirty bitmap is a <c>qemu:dirty-bitmap:NAME</c> context. Records every read and trim, so
/// tests can prove a backup never touched a clean range and discarded what it stored.
/// </summary>
internal sealed class SnapshotAccessDevice : IBlockDevice, IMetaContext
{
    private readonly MemoryBlockDevice _disk;
    private readonly List<(long Offset, long Length)> _dirty;
    private readonly Lock _lock = new();

    public SnapshotAccessDevice(MemoryBlockDevice disk, string bitmap, IEnumerable<(long Offset, long Length)> dirty)
    {
        _disk = disk;
        Name = "qemu:dirty-bitmap:" + bitmap;
        _dirty = dirty.OrderBy(d => d.Offset).ToList();
    }

    public string Name { get; }

    public List<(long Offset, long Length)> Reads { get; } = [];

    public List<(long Offset, long Length)> Trims { get; } = [];

    public long Size => _disk.Size;

    public BlockDeviceCapabilities Capabilities => BlockDeviceCapabilities.Trim | BlockDeviceCapabilities.Extents | BlockDeviceCapabilities.Flush;

    public int MinimumBlockSize => 1;

    public int PreferredBlockSize => 4096;

    public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            Reads.Add((offset, destination.Length));
        }

        if (!_dirty.Any(d => d.Offset <= offset && offset + destination.Length <= d.Offset + d.Length))
        {
            throw new BlockDeviceException(Errno.EIO, $"read {offset}+{destination.Length} is outside the dirty parts of the snapshot access: {string.Join(",", _dirty)}");
        }

        return _disk.ReadAsync(offset, destination, cancellationToken);
    }

    public ValueTask TrimAsync(long offset, long length, WriteFlags flags = WriteFlags.None, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            Trims.Add((offset, length));
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask<long> GetExtentsAsync(long offset, long length, ExtentList extents, CancellationToken cancellationToken = default) =>
        _disk.GetExtentsAsync(offset, length, extents, cancellationToken);

    /// <summary>The dirty-bitmap context: flag 1 inside the dirty regions, 0 elsewhere.</summary>
    async ValueTask<long> IMetaContext.GetExtentsAsync(long offset, long length, ExtentList extents, CancellationToken cancellationToken)
    {
        await Task.CompletedTask;
        var end = offset + length;
        var position = offset;
        foreach (var (start, count) in _dirty)
        {
            if (start + count <= position)
            {
                continue;
            }

            if (start >= end)
            {
                break;
            }

            if (start > position)
            {
                extents.Add(position, start - position, 0);
            }

            var stop = Math.Min(start + count, end);
            extents.Add(Math.Max(start, position), stop - Math.Max(start, position), (ExtentFlags)1);
            position = stop;
        }

        if (position < end)
        {
            extents.Add(position, end - position, 0);
        }

        return length;
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, WriteFlags flags = WriteFlags.None, CancellationToken cancellationToken = default) =>
        throw new BlockDeviceException(Errno.EPERM, "snapshot access is read-only");

    public ValueTask FlushAsync(CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    public ValueTask WriteZeroesAsync(long offset, long length, WriteZeroesFlags flags, CancellationToken cancellationToken = default) =>
        throw new BlockDeviceException(Errno.EPERM, "snapshot access is read-only");

    public ValueTask CacheAsync(long offset, long length, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
