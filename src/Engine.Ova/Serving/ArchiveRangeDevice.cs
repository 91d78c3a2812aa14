using Engine.Blocks;
using Microsoft.Win32.SafeHandles;

namespace Engine.Ova.Serving;

/// <summary>
/// A read-only block device over a byte range of an archive file: an OVA's inner raw or flat disk, served in
/// place like nbdkit's tar filter, without extracting it. Reads are positional, so any number run at once.
/// </summary>
internal sealed class ArchiveRangeDevice : IBlockDevice
{
    private readonly SafeFileHandle _handle;
    private readonly long _start;
    private readonly string _name;
    private int _disposed;

    private ArchiveRangeDevice(SafeFileHandle handle, long start, long size, string name)
    {
        _handle = handle;
        _start = start;
        _name = name;
        Size = size;
    }

    /// <summary>Opens <paramref name="archivePath"/> read-only and exposes <paramref name="length"/> bytes from <paramref name="offset"/>.</summary>
    /// <exception cref="OvaFormatException">The range does not lie inside the file.</exception>
    public static ArchiveRangeDevice Open(string archivePath, long offset, long length, string name)
    {
        var handle = File.OpenHandle(archivePath, FileMode.Open, FileAccess.Read, FileShare.Read);
        var fileLength = RandomAccess.GetLength(handle);
        if (offset < 0 || length < 0 || offset > fileLength || length > fileLength - offset)
        {
            handle.Dispose();
            throw new OvaFormatException($"{name}: {length} bytes at offset {offset} are not inside {archivePath} ({fileLength} bytes)");
        }

        return new ArchiveRangeDevice(handle, offset, length, name);
    }

    /// <inheritdoc />
    public long Size { get; }

    /// <inheritdoc />
    public BlockDeviceCapabilities Capabilities => BlockDeviceCapabilities.ReadOnly | BlockDeviceCapabilities.MultiConnSafe;

    /// <inheritdoc />
    public int MinimumBlockSize => 1;

    /// <inheritdoc />
    public int PreferredBlockSize => 4096;

    /// <inheritdoc />
    public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        cancellationToken.ThrowIfCancellationRequested();
        if (offset < 0 || offset > Size || destination.Length > Size - offset)
        {
            throw new BlockDeviceException(Errno.EINVAL, $"read on {_name} at {offset}+{destination.Length}: beyond the end ({Size} bytes)");
        }

        var span = destination.Span;
        var position = _start + offset;
        while (!span.IsEmpty)
        {
            int read;
            try
            {
                read = RandomAccess.Read(_handle, span, position);
            }
            catch (IOException e)
            {
                throw new BlockDeviceException(Errno.EIO, $"read on {_name} at {offset}: {e.Message}", e);
            }

            if (read == 0)
            {
                throw new BlockDeviceException(Errno.EIO, $"read on {_name} at {offset}: the archive shrank");
            }

            span = span[read..];
            position += read;
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, WriteFlags flags = WriteFlags.None, CancellationToken cancellationToken = default) =>
        throw ReadOnly("write");

    /// <inheritdoc />
    public ValueTask FlushAsync(CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    /// <inheritdoc />
    public ValueTask TrimAsync(long offset, long length, WriteFlags flags = WriteFlags.None, CancellationToken cancellationToken = default) =>
        throw ReadOnly("trim");

    /// <inheritdoc />
    public ValueTask WriteZeroesAsync(long offset, long length, WriteZeroesFlags flags, CancellationToken cancellationToken = default) =>
        throw ReadOnly("write zeroes");

    /// <inheritdoc />
    public ValueTask CacheAsync(long offset, long length, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    /// <inheritdoc />
    public ValueTask<long> GetExtentsAsync(long offset, long length, ExtentList extents, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(extents);
        extents.Add(offset, length, ExtentFlags.Data);
        return ValueTask.FromResult(length);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _handle.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    private BlockDeviceException ReadOnly(string operation) => new(Errno.EPERM, $"{operation} on {_name}: the OVA is served read-only");
}
