using System.Runtime.CompilerServices;
using Engine.Blocks.Native;
using Microsoft.Win32.SafeHandles;

namespace Engine.Blocks.Devices;

/// <summary>
/// A block device backed by a regular file or a Linux block device, using positional I/O (pread/pwrite) so that any
/// number of requests can run concurrently on one descriptor. Holes are reported through SEEK_DATA/SEEK_HOLE, trims
/// and zeroing go through fallocate(2) or the block-device ioctls.
/// </summary>
/// <remarks>
/// Every connection shares the kernel page cache, so the device is safe for multi-connection NBD. In O_DIRECT mode
/// (<see cref="FileBlockDeviceOptions.Direct"/>) offsets must be block-aligned; unaligned buffers and lengths are
/// handled here (see the Direct part of this class).
/// </remarks>
public sealed partial class FileBlockDevice : IBlockDevice, IFileHandleSource
{
    private readonly SafeFileHandle _handle;
    private readonly bool _readOnly;
    private readonly bool _direct;
    private readonly bool _streaming;
    private readonly bool _isBlockDevice;
    private int _disposed;

    private FileBlockDevice(string path, SafeFileHandle handle, FileBlockDeviceOptions options, bool isBlockDevice, long size,
        int sectorSize, int preferredBlockSize, SafeFileHandle? tailHandle)
    {
        Path = path;
        _handle = handle;
        _readOnly = options.ReadOnly;
        _direct = options.Direct;
        _streaming = options.StreamingWrites && !options.Direct;
        _isBlockDevice = isBlockDevice;
        _noFallocate = options.DisableFallocate;
        _sectorSize = sectorSize;
        _tailHandle = tailHandle;
        Size = size;
        MinimumBlockSize = _direct ? sectorSize : 1;
        PreferredBlockSize = Math.Max(preferredBlockSize, MinimumBlockSize);
        _fastZero = !_readOnly && ProbeFastZero();
        Capabilities = ComputeCapabilities();
    }

    /// <summary>The path the device was opened with; used in error messages.</summary>
    public string Path { get; }

    /// <inheritdoc />
    public long Size { get; }

    /// <inheritdoc />
    public BlockDeviceCapabilities Capabilities { get; }

    /// <inheritdoc />
    public int MinimumBlockSize { get; }

    /// <inheritdoc />
    public int PreferredBlockSize { get; }

    /// <summary>The descriptor the device reads and writes. Owned by the device: do not dispose it, and only use positional calls on it.</summary>
    public SafeFileHandle Handle => _handle;

    /// <summary>Whether the server may answer reads with sendfile(2) from <see cref="Handle"/> (not for O_DIRECT handles).</summary>
    internal bool CanSendFile => !_direct;

    bool IFileHandleSource.CanSendFile => CanSendFile;

    /// <summary>Opens a regular file or a block device.</summary>
    /// <exception cref="FileNotFoundException">The path does not exist.</exception>
    /// <exception cref="BlockDeviceException">The path cannot be opened, or is neither a regular file nor a block device.</exception>
    public static FileBlockDevice Open(string path, FileBlockDeviceOptions options)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(options);
        var flags = (options.ReadOnly ? LibC.O_RDONLY : LibC.O_RDWR) | LibC.O_CLOEXEC | (options.Direct ? LibC.O_DIRECT : 0);
        var handle = OpenHandle(path, flags, options.Direct ? "open(O_DIRECT)" : "open");
        SafeFileHandle? tailHandle = null;
        try
        {
            if (LibC.FStat(handle, LibC.STATX_TYPE | LibC.STATX_SIZE | LibC.STATX_DIOALIGN, out var stat) != 0)
            {
                throw Failure(path, "statx", LibC.LastErrno);
            }

            long size;
            int sectorSize;
            if (stat.IsBlockDevice)
            {
                if (LibC.IoctlGetUInt64(handle, LibC.BLKGETSIZE64, out var bytes) != 0)
                {
                    throw Failure(path, "ioctl(BLKGETSIZE64)", LibC.LastErrno);
                }

                if (LibC.IoctlGetInt32(handle, LibC.BLKSSZGET, out sectorSize) != 0)
                {
                    throw Failure(path, "ioctl(BLKSSZGET)", LibC.LastErrno);
                }

                size = (long)bytes;
            }
            else if (stat.IsRegularFile)
            {
                size = (long)stat.Size;

                // statx reports the O_DIRECT alignment of this very file on Linux 6.1 and later. Older kernels leave it
                // out; 4096 is then always safe because no block device has logical sectors larger than a page.
                sectorSize = (stat.Mask & LibC.STATX_DIOALIGN) != 0 && stat.DioOffsetAlign != 0 ? (int)stat.DioOffsetAlign : 4096;
            }
            else
            {
                throw new BlockDeviceException(Errno.EINVAL, $"{path} is neither a regular file nor a block device");
            }

            if (options.Direct && !options.ReadOnly)
            {
                // A second, buffered descriptor on the same open file takes the sub-block tails of writes (see Direct).
                // Reopening through /proc rather than the path guarantees the same inode even if the path was renamed.
                tailHandle = OpenHandle($"/proc/self/fd/{handle.DangerousGetHandle()}", LibC.O_RDWR | LibC.O_CLOEXEC, "open");
            }

            // At least a page: smaller writes make the page cache read-modify-write.
            var preferred = stat.BlockSize is > 4096 and <= 1 << 20 && int.IsPow2((int)stat.BlockSize) ? (int)stat.BlockSize : 4096;
            return new FileBlockDevice(path, handle, options, stat.IsBlockDevice, size, sectorSize, preferred, tailHandle);
        }
        catch
        {
            tailHandle?.Dispose();
            handle.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        DeviceRange.Check(offset, destination.Length, Size, "read", Path);
        try
        {
            if (_direct)
            {
                await ReadDirectAsync(offset, destination, cancellationToken);
            }
            else
            {
                await ReadFullyAsync(_handle, offset, destination, cancellationToken);
            }
        }
        catch (Exception e) when (IsSystemError(e))
        {
            throw Failure("pread", offset, destination.Length, e);
        }
    }

    /// <inheritdoc />
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, WriteFlags flags = WriteFlags.None, CancellationToken cancellationToken = default)
    {
        ThrowIfReadOnly("write");
        DeviceRange.CheckWrite(offset, source.Length, Size, "write", Path);
        await WriteCoreAsync(offset, source, cancellationToken);
        if ((flags & WriteFlags.Fua) != 0)
        {
            await FlushAsync(cancellationToken);
        }
    }

    /// <inheritdoc />
    public async ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();

        // fdatasync can take seconds on a busy disk; keep it off the caller's thread.
        await Task.Run(
            () =>
            {
                if (LibC.FDataSync(_handle) != 0)
                {
                    throw Failure(Path, "fdatasync", LibC.LastErrno);
                }
            },
            cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask CacheAsync(long offset, long length, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ThrowIfDisposed();
        DeviceRange.Check(offset, length, Size, "cache", Path);

        // Read-ahead fills the page cache, which O_DIRECT reads never look at. The advice is only a hint, so its
        // result is deliberately ignored.
        if (!_direct && length > 0)
        {
            _ = LibC.PosixFAdvise(_handle, offset, length, LibC.POSIX_FADV_WILLNEED);
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>Closes the descriptors. Safe to call more than once.</summary>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _tailHandle?.Dispose();
            _handle.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    private BlockDeviceCapabilities ComputeCapabilities()
    {
        var caps = BlockDeviceCapabilities.MultiConnSafe;
        if (!_direct)
        {
            caps |= BlockDeviceCapabilities.Cache;
        }

        if (!_isBlockDevice)
        {
            // Block devices answer SEEK_DATA with "all data": no allocation information worth advertising.
            caps |= BlockDeviceCapabilities.Extents;
        }

        if (_readOnly)
        {
            return caps | BlockDeviceCapabilities.ReadOnly;
        }

        caps |= BlockDeviceCapabilities.Flush | BlockDeviceCapabilities.Fua | BlockDeviceCapabilities.Trim | BlockDeviceCapabilities.WriteZeroes;
        return _fastZero ? caps | BlockDeviceCapabilities.FastZero : caps;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask WriteCoreAsync(long offset, ReadOnlyMemory<byte> source, CancellationToken cancellationToken)
    {
        try
        {
            if (_direct)
            {
                await WriteDirectAsync(offset, source, cancellationToken);
            }
            else
            {
                // A blocking pwrite on the caller's (pool) thread: RandomAccess.WriteAsync on a synchronous handle would
                // only queue the same pwrite to another pool thread, one hop per request for nothing.
                cancellationToken.ThrowIfCancellationRequested();
                RandomAccess.Write(_handle, source.Span, offset);
                if (_streaming)
                {
                    StreamingWriteBack.After(_handle, offset, source.Length);
                }
            }
        }
        catch (Exception e) when (IsSystemError(e))
        {
            throw Failure("pwrite", offset, source.Length, e);
        }
    }

    /// <summary>Reads until <paramref name="destination"/> is full; bytes past end of file read as zeroes.</summary>
    private static async ValueTask ReadFullyAsync(SafeFileHandle handle, long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        while (!destination.IsEmpty)
        {
            // Blocking pread on the caller's thread, for the same reason as in WriteCoreAsync.
            cancellationToken.ThrowIfCancellationRequested();
            var read = RandomAccess.Read(handle, destination.Span, offset);
            if (read == 0)
            {
                // The file shrank underneath us (or its size is not a whole number of O_DIRECT blocks): whatever lies
                // past end of file reads as zeroes, never as stale buffer contents.
                destination.Span.Clear();
                return;
            }

            destination = destination[read..];
            offset += read;
        }
    }

    private static SafeFileHandle OpenHandle(string path, int flags, string operation)
    {
        var fd = LibC.Open(path, flags, 0);
        if (fd < 0)
        {
            var errno = LibC.LastErrno;
            if (errno == Errno.ENOENT)
            {
                throw new FileNotFoundException($"{path}: {LibC.StrError(errno)}", path);
            }

            var hint = errno == Errno.EINVAL && (flags & LibC.O_DIRECT) != 0 ? " (the filesystem may not support O_DIRECT)" : "";
            throw new BlockDeviceException(MapErrno(errno), $"{operation} on {path}: {LibC.StrError(errno)}{hint}");
        }

        return new SafeFileHandle(fd, ownsHandle: true);
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    private void ThrowIfReadOnly(string operation)
    {
        ThrowIfDisposed();
        if (_readOnly)
        {
            throw new BlockDeviceException(Errno.EPERM, $"{operation} on {Path}: opened read-only");
        }
    }

    /// <summary>Failures the runtime reports for a system call, as opposed to our own errors or cancellation.</summary>
    private static bool IsSystemError(Exception e) => e is UnauthorizedAccessException || (e is IOException && e is not BlockDeviceException);

    private BlockDeviceException Failure(string operation, long offset, long length, Exception e)
    {
        // On Unix the runtime stores the raw errno in the HResult of the IOExceptions it throws for failed calls.
        var errno = e is IOException { HResult: > 0 and < 4096 } io ? io.HResult : e is UnauthorizedAccessException ? Errno.EPERM : Errno.EIO;
        return Failure(Path, operation, offset, length, errno, e);
    }

    private BlockDeviceException Failure(string operation, long offset, long length, int errno) =>
        Failure(Path, operation, offset, length, errno);

    private static BlockDeviceException Failure(string path, string operation, long offset, long length, int errno, Exception? inner = null) =>
        new(MapErrno(errno), $"{operation} on {path} at {offset}+{length}: {LibC.StrError(errno)}", inner);

    private static BlockDeviceException Failure(string path, string operation, int errno) =>
        new(MapErrno(errno), $"{operation} on {path}: {LibC.StrError(errno)}");

    // NBD has no errno for quota or file-size limits; to the client both mean the device is out of space.
    private static int MapErrno(int errno) => errno is Errno.EDQUOT or Errno.EFBIG ? Errno.ENOSPC : errno;
}
