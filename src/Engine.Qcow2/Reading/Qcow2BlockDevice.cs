using System.Runtime.CompilerServices;
using Engine.Blocks;
using Engine.Blocks.Devices;
using Engine.Qcow2.Format;

namespace Engine.Qcow2.Reading;

/// <summary>
/// A qcow2 image (version 2 or 3) as a read-only block device: data clusters read with pread straight into the
/// caller's buffer (contiguous host clusters in one call), compressed clusters inflated, zero clusters and unallocated
/// ranges reported as extents, unallocated ranges read from the backing chain (qcow2 or raw files).
/// </summary>
/// <remarks>
/// Thread-safe: the L1 table is immutable, L2 tables sit in a bounded cache (<see cref="Qcow2ReaderOptions.L2CacheBytes"/>)
/// whose entries are copied out under a short lock, and no request allocates once the tables it needs are cached.
/// A malformed table found while reading fails the request with <c>EIO</c> and a message naming file and offset.
/// </remarks>
public sealed partial class Qcow2BlockDevice : IBlockDevice
{
    private readonly Qcow2Image _image;
    private readonly ClusterMapper _mapper;
    private readonly CompressedClusters _compressed;
    private readonly IBlockDevice? _backing;
    private int _disposed;

    private Qcow2BlockDevice(Qcow2Image image, IBlockDevice? backing, string? backingPath, Qcow2ReaderOptions options)
    {
        _image = image;
        _backing = backing;
        BackingPath = backingPath;
        _mapper = new ClusterMapper(image, options.L2CacheBytes);
        _compressed = new CompressedClusters(image);
        Size = image.Size;
        PreferredBlockSize = Math.Clamp(image.Layout.ClusterSize, 4096, 1 << 20);
    }

    /// <summary>The checked metadata, for the bitmaps of this image.</summary>
    internal Qcow2Image Image => _image;

    /// <summary>The path of the qcow2 file, as opened.</summary>
    public string Path => _image.Path;

    /// <summary>The image's header.</summary>
    public Qcow2Header Header => _image.Header;

    /// <summary>The backing file's name as the image stores it, or null.</summary>
    public string? BackingFileName => _image.BackingName;

    /// <summary>The path the backing file was opened at (resolved as qemu does), or null.</summary>
    public string? BackingPath { get; }

    /// <summary>The backing image, a <see cref="Qcow2BlockDevice"/> or a raw file's device, or null.</summary>
    public IBlockDevice? Backing => _backing;

    /// <inheritdoc />
    public long Size { get; }

    /// <inheritdoc />
    public BlockDeviceCapabilities Capabilities => BlockDeviceCapabilities.ReadOnly | BlockDeviceCapabilities.Extents | BlockDeviceCapabilities.MultiConnSafe;

    /// <inheritdoc />
    public int MinimumBlockSize => 1;

    /// <inheritdoc />
    public int PreferredBlockSize { get; }

    /// <inheritdoc />
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ThrowIfDisposed();
        DeviceRange.Check(offset, destination.Length, Size, "read", Path);
        while (!destination.IsEmpty)
        {
            var run = Map(offset, destination.Length);
            var part = destination[..(int)run.Length];
            switch (run.Kind)
            {
                case ClusterRunKind.Data:
                    ReadData((long)run.HostOffset, part.Span);
                    break;
                case ClusterRunKind.Compressed:
                    ReadCompressed(run.HostOffset, _image.Layout.OffsetInCluster(offset), part.Span);
                    break;
                case ClusterRunKind.Zero:
                    part.Span.Clear();
                    break;
                default:
                    await ReadBackingAsync(offset, part, cancellationToken);
                    break;
            }

            offset += run.Length;
            destination = destination[(int)run.Length..];
        }
    }

    private async ValueTask ReadBackingAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        var inBacking = _backing is null ? 0 : (int)Math.Clamp(_backing.Size - offset, 0, destination.Length);
        if (inBacking > 0)
        {
            await _backing!.ReadAsync(offset, destination[..inBacking], cancellationToken);
        }

        destination.Span[inBacking..].Clear();
    }

    private void ReadData(long hostOffset, Span<byte> destination)
    {
        try
        {
            _image.DataFile.ReadAt(hostOffset, destination);
        }
        catch (IOException ex)
        {
            throw new BlockDeviceException(Errno.EIO, $"pread on {_image.DataFile.Path} at {hostOffset}+{destination.Length}: {ExceptionText.Of(ex)}", ex);
        }
    }

    private void ReadCompressed(ulong entry, int offsetInCluster, Span<byte> destination)
    {
        try
        {
            _compressed.Read(entry, offsetInCluster, destination);
        }
        catch (Qcow2FormatException ex)
        {
            throw new BlockDeviceException(Errno.EIO, ex.Message, ex);
        }
    }

    /// <summary>The run at <paramref name="offset"/>; a malformed table becomes <c>EIO</c> naming the file and offset.</summary>
    private ClusterRun Map(long offset, long maxLength)
    {
        try
        {
            return _mapper.Map(offset, maxLength);
        }
        catch (Qcow2FormatException ex)
        {
            throw new BlockDeviceException(Errno.EIO, ex.Message, ex);
        }
    }

    /// <inheritdoc />
    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, WriteFlags flags = WriteFlags.None, CancellationToken cancellationToken = default) =>
        ReadOnlyFailure("write");

    /// <inheritdoc />
    public ValueTask FlushAsync(CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    /// <inheritdoc />
    public ValueTask TrimAsync(long offset, long length, WriteFlags flags = WriteFlags.None, CancellationToken cancellationToken = default) =>
        ReadOnlyFailure("trim");

    /// <inheritdoc />
    public ValueTask WriteZeroesAsync(long offset, long length, WriteZeroesFlags flags, CancellationToken cancellationToken = default) =>
        ReadOnlyFailure("write zeroes");

    /// <inheritdoc />
    public ValueTask CacheAsync(long offset, long length, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        DeviceRange.Check(offset, length, Size, "cache", Path);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _image.Dispose();
        if (_backing is not null)
        {
            await _backing.DisposeAsync();
        }
    }

    private ValueTask ReadOnlyFailure(string operation) =>
        ValueTask.FromException(new BlockDeviceException(Errno.EPERM, $"{operation} on {Path}: the qcow2 reader is read-only"));

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed != 0, this);
}
