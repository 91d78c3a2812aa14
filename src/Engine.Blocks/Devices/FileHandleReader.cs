using Engine.Blocks.Buffers;
using Engine.Blocks.Native;
using Microsoft.Win32.SafeHandles;

namespace Engine.Blocks.Devices;

/// <summary>
/// Reads and discards ranges of a descriptor that somebody else opened, such as the snapshot-access file handle
/// Proxmox VE passes to a backup provider. A regular file on a local file system is memory-mapped, so callers hash
/// and compress straight out of the page cache (<see cref="TryGetMapped"/>); everything else is read with pread,
/// aligned to the logical block size when the descriptor is O_DIRECT.
/// </summary>
/// <remarks>
/// FUSE files (nbdfuse, which PVE uses) are never mapped: an I/O error under a mapping arrives as SIGBUS and would
/// kill the process, while pread turns it into an errno the caller can report. The descriptor stays owned by the
/// caller unless <c>ownsHandle</c> is set.
/// </remarks>
internal sealed unsafe class FileHandleReader : IDisposable
{
    private readonly SafeFileHandle _handle;
    private readonly bool _ownsHandle;
    private readonly bool _isBlockDevice;
    private nint _mapping;
    private int _disposed;

    private FileHandleReader(SafeFileHandle handle, string name, bool ownsHandle, long size, int alignment, bool direct, bool writable, bool isBlockDevice)
    {
        _handle = handle;
        _ownsHandle = ownsHandle;
        Name = name;
        Size = size;
        Alignment = alignment;
        IsDirect = direct;
        CanDiscard = writable;
        _isBlockDevice = isBlockDevice;
    }

    /// <summary>What error messages call the descriptor: a path, or "fd N".</summary>
    public string Name { get; }

    /// <summary>Size of the file or block device in bytes.</summary>
    public long Size { get; }

    /// <summary>Offset, length and memory alignment that reads need (1 unless the descriptor is O_DIRECT).</summary>
    public int Alignment { get; }

    /// <summary>Whether the descriptor was opened with O_DIRECT.</summary>
    public bool IsDirect { get; }

    /// <summary>Whether <see cref="TryGetMapped"/> can succeed.</summary>
    public bool IsMapped => _mapping != 0;

    /// <summary>Whether the descriptor is writable, which discarding needs.</summary>
    public bool CanDiscard { get; }

    /// <summary>Inspects a descriptor and maps it when that is safe.</summary>
    /// <param name="handle">An open descriptor of a regular file or block device.</param>
    /// <param name="name">How errors name it.</param>
    /// <param name="ownsHandle">Dispose the handle with the reader.</param>
    /// <param name="allowMapping">Set false to force pread (for measurements and tests).</param>
    /// <exception cref="BlockDeviceException">The descriptor cannot be inspected, or is neither a file nor a block device.</exception>
    public static FileHandleReader Open(SafeFileHandle handle, string name, bool ownsHandle = false, bool allowMapping = true)
    {
        ArgumentNullException.ThrowIfNull(handle);
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (LibC.FStat(handle, LibC.STATX_TYPE | LibC.STATX_SIZE | LibC.STATX_DIOALIGN, out var stat) != 0)
        {
            throw Failure(name, "statx", LibC.LastErrno);
        }

        var flags = LibC.Fcntl(handle, LibC.F_GETFL, 0);
        if (flags < 0)
        {
            throw Failure(name, "fcntl(F_GETFL)", LibC.LastErrno);
        }

        var direct = (flags & LibC.O_DIRECT) != 0;
        var writable = (flags & LibC.O_ACCMODE) != LibC.O_RDONLY;
        long size;
        var alignment = 4096;
        if (stat.IsBlockDevice)
        {
            if (LibC.IoctlGetUInt64(handle, LibC.BLKGETSIZE64, out var bytes) != 0)
            {
                throw Failure(name, "ioctl(BLKGETSIZE64)", LibC.LastErrno);
            }

            if (LibC.IoctlGetInt32(handle, LibC.BLKSSZGET, out var sector) == 0 && sector > 0)
            {
                alignment = sector;
            }

            size = (long)bytes;
        }
        else if (stat.IsRegularFile)
        {
            size = (long)stat.Size;
            if ((stat.Mask & LibC.STATX_DIOALIGN) != 0 && stat.DioOffsetAlign != 0)
            {
                alignment = (int)Math.Max(stat.DioOffsetAlign, stat.DioMemAlign);
            }
        }
        else
        {
            throw new BlockDeviceException(Errno.EINVAL, $"{name} is neither a regular file nor a block device");
        }

        var reader = new FileHandleReader(handle, name, ownsHandle, size, direct ? alignment : 1, direct, writable, stat.IsBlockDevice);
        if (allowMapping && stat.IsRegularFile && !direct && size > 0 && LibC.FileSystemType(handle) != LibC.FUSE_SUPER_MAGIC)
        {
            reader.Map();
        }

        return reader;
    }

    /// <summary>
    /// A span over the mapping, valid until <see cref="Dispose"/>; false when the descriptor is not mapped. Reading it
    /// faults pages in from the page cache with no copy.
    /// </summary>
    public bool TryGetMapped(long offset, int length, out ReadOnlySpan<byte> data)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        CheckRange(offset, length);
        if (_mapping == 0)
        {
            data = default;
            return false;
        }

        data = new ReadOnlySpan<byte>((byte*)_mapping + offset, length);
        return true;
    }

    /// <summary>Tells the kernel that a mapped range was consumed, so a backup does not grow the page cache footprint.</summary>
    public void ReleaseMapped(long offset, long length)
    {
        if (_mapping == 0 || length <= 0)
        {
            return;
        }

        // madvise wants a page-aligned start; pages partly outside the range are kept.
        var start = (offset + 4095) & ~4095L;
        var end = Math.Min(offset + length, Size) & ~4095L;
        if (end > start)
        {
            _ = LibC.MAdvise(_mapping + (nint)start, (nuint)(end - start), LibC.MADV_DONTNEED);
        }
    }

    /// <summary>
    /// Reads <paramref name="destination"/>.Length bytes at <paramref name="offset"/>. With O_DIRECT the read goes
    /// straight into the destination when it is aligned, through an aligned bounce buffer otherwise.
    /// </summary>
    /// <exception cref="BlockDeviceException">The read failed or hit the end of the file; the message names the range.</exception>
    public void Read(long offset, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        CheckRange(offset, destination.Length);
        if (_mapping != 0)
        {
            new ReadOnlySpan<byte>((byte*)_mapping + offset, destination.Length).CopyTo(destination);
            return;
        }

        if (!IsDirect || IsAligned(offset, destination))
        {
            ReadFully(offset, destination);
            return;
        }

        var start = offset & ~(long)(Alignment - 1);
        var end = Math.Min(Size, (offset + destination.Length + Alignment - 1) & ~(long)(Alignment - 1));
        using var bounce = BufferPool.Shared.Rent(checked((int)(end - start)));
        ReadFully(start, bounce.Span);
        bounce.Span.Slice((int)(offset - start), destination.Length).CopyTo(destination);
    }

    /// <summary>
    /// Frees a range that was backed up: PUNCH_HOLE on a file (the fleecing image shrinks), BLKDISCARD on a block
    /// device. Returns false when the file system or device cannot discard; the data is then simply left in place.
    /// </summary>
    /// <exception cref="BlockDeviceException">The descriptor is read-only, or the call failed for another reason.</exception>
    public bool Discard(long offset, long length)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (!CanDiscard)
        {
            throw new BlockDeviceException(Errno.EPERM, $"discard on {Name}: the descriptor is read-only");
        }

        length = Math.Min(length, Size - offset);
        if (length <= 0)
        {
            return true;
        }

        var result = _isBlockDevice
            ? LibC.IoctlRange(_handle, LibC.BLKDISCARD, new LibC.ByteRange((ulong)offset, (ulong)length))
            : LibC.FAllocate(_handle, LibC.FALLOC_FL_PUNCH_HOLE | LibC.FALLOC_FL_KEEP_SIZE, offset, length);
        if (result == 0)
        {
            return true;
        }

        var errno = LibC.LastErrno;
        if (errno is Errno.EOPNOTSUPP or Errno.ENOTTY or Errno.ENOSYS)
        {
            return false;
        }

        throw new BlockDeviceException(errno, $"discard on {Name} at {offset} length {length}: {LibC.StrError(errno)}");
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (_mapping != 0)
        {
            _ = LibC.MUnmap(_mapping, (nuint)Size);
            _mapping = 0;
        }

        if (_ownsHandle)
        {
            _handle.Dispose();
        }
    }

    private void Map()
    {
        var address = LibC.MMap(0, (nuint)Size, LibC.PROT_READ, LibC.MAP_SHARED, _handle, 0);
        if (address == LibC.MapFailed)
        {
            return; // some file systems cannot map; pread still works
        }

        _ = LibC.MAdvise(address, (nuint)Size, LibC.MADV_SEQUENTIAL);
        _mapping = address;
    }

    private bool IsAligned(long offset, Span<byte> destination)
    {
        var mask = Alignment - 1;
        fixed (byte* pointer = destination)
        {
            return (offset & mask) == 0 && (destination.Length & mask) == 0 && ((nint)pointer & mask) == 0;
        }
    }

    private void ReadFully(long offset, Span<byte> destination)
    {
        var done = 0;
        while (done < destination.Length)
        {
            int count;
            try
            {
                count = RandomAccess.Read(_handle, destination[done..], offset + done);
            }
            catch (IOException e)
            {
                throw new BlockDeviceException(Errno.EIO, $"read of {Name} at {offset + done} length {destination.Length - done}: {e.Message}", e);
            }

            if (count == 0)
            {
                throw new BlockDeviceException(Errno.EIO, $"read of {Name} at {offset + done}: unexpected end of file (size {Size})");
            }

            done += count;
        }
    }

    private void CheckRange(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset > Size - length)
        {
            throw new BlockDeviceException(Errno.EINVAL, $"{Name}: range {offset}+{length} is outside the size {Size}");
        }
    }

    private static BlockDeviceException Failure(string name, string operation, int errno) =>
        new(errno, $"{operation} on {name}: {LibC.StrError(errno)}");
}
