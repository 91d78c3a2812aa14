using Engine.Blocks.Buffers;
using Engine.Blocks.Native;

namespace Engine.Blocks.Devices;

/// <summary>
/// Trim, zeroing and extent queries: everything that deals with allocation rather than with bytes. Regular files use
/// fallocate(2) and SEEK_DATA/SEEK_HOLE; block devices use the BLKDISCARD and BLKZEROOUT ioctls.
/// </summary>
public sealed partial class FileBlockDevice
{
    // Caps one extent query: a badly fragmented file is then described over several calls, never in one long loop.
    private const int MaxExtentsPerQuery = 1024;

    private const int ZeroChunkSize = 1 << 20;

    private readonly bool _noFallocate;
    private readonly bool _fastZero;

    // Learnt on the first EOPNOTSUPP so that later requests go straight to the path that works.
    private volatile bool _punchUnsupported;
    private volatile bool _zeroRangeUnsupported;

    /// <inheritdoc />
    public async ValueTask TrimAsync(long offset, long length, WriteFlags flags = WriteFlags.None, CancellationToken cancellationToken = default)
    {
        ThrowIfReadOnly("trim");
        DeviceRange.Check(offset, length, Size, "trim", Path);
        if (_isBlockDevice)
        {
            // BLKDISCARD only takes whole sectors; the partial ones at the edges are simply not trimmed (it is a hint).
            var start = (offset + _sectorSize - 1) & ~(long)(_sectorSize - 1);
            var end = (offset + length) & ~(long)(_sectorSize - 1);
            if (end > start)
            {
                await RunAsync(() => TryBlockRange(LibC.BLKDISCARD, "ioctl(BLKDISCARD)", start, end - start), cancellationToken);
            }
        }
        else if (length > 0)
        {
            await RunAsync(() => TryFallocate(LibC.FALLOC_FL_PUNCH_HOLE, "fallocate(PUNCH_HOLE)", offset, length), cancellationToken);
        }

        if ((flags & WriteFlags.Fua) != 0)
        {
            await FlushAsync(cancellationToken);
        }
    }

    /// <inheritdoc />
    public async ValueTask WriteZeroesAsync(long offset, long length, WriteZeroesFlags flags, CancellationToken cancellationToken = default)
    {
        ThrowIfReadOnly("write zeroes");
        DeviceRange.CheckWrite(offset, length, Size, "write zeroes", Path);
        if ((flags & WriteZeroesFlags.FastOnly) != 0 && !_fastZero)
        {
            throw new BlockDeviceException(Errno.ENOTSUP, $"write zeroes on {Path} at {offset}+{length}: the device cannot zero without writing");
        }

        if (length > 0)
        {
            if (_isBlockDevice)
            {
                await ZeroBlockDeviceAsync(offset, length, flags, cancellationToken);
            }
            else if (!await RunAsync(() => TryZeroFile(offset, length, flags), cancellationToken))
            {
                if ((flags & WriteZeroesFlags.FastOnly) != 0)
                {
                    throw new BlockDeviceException(Errno.ENOTSUP, $"write zeroes on {Path} at {offset}+{length}: fallocate is not supported");
                }

                await WriteZeroesSlowAsync(offset, length, cancellationToken);
            }
        }

        if ((flags & WriteZeroesFlags.Fua) != 0)
        {
            await FlushAsync(cancellationToken);
        }
    }

    /// <inheritdoc />
    public ValueTask<long> GetExtentsAsync(long offset, long length, ExtentList extents, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(extents);
        cancellationToken.ThrowIfCancellationRequested();
        ThrowIfDisposed();
        DeviceRange.CheckNonEmpty(offset, length, Size, "extents", Path);
        if (_isBlockDevice)
        {
            extents.Add(offset, length, ExtentFlags.Data);
            return ValueTask.FromResult(length);
        }

        // lseek moves the shared file position, which is harmless because every read and write is positional, and
        // concurrent queries do not disturb each other because each uses only the position its own call returned.
        var end = offset + length;
        var position = offset;
        for (var count = 0; position < end && count < MaxExtentsPerQuery; count++)
        {
            var data = LibC.LSeek(_handle, position, LibC.SEEK_DATA);
            if (data < 0)
            {
                var errno = LibC.LastErrno;

                // ENXIO: no data from here to end of file. Anything else that is not a real failure means the
                // filesystem cannot tell, and then everything counts as data.
                extents.Add(position, end - position, errno switch
                {
                    Errno.ENXIO => ExtentFlags.HoleZero,
                    Errno.EINVAL or Errno.EOPNOTSUPP => ExtentFlags.Data,
                    _ => throw Failure("lseek(SEEK_DATA)", position, end - position, errno),
                });
                position = end;
                break;
            }

            if (data > position)
            {
                var holeEnd = Math.Min(data, end);
                extents.Add(position, holeEnd - position, ExtentFlags.HoleZero);
                position = holeEnd;
                continue;
            }

            var hole = LibC.LSeek(_handle, position, LibC.SEEK_HOLE);
            if (hole < 0)
            {
                var errno = LibC.LastErrno;
                if (errno != Errno.ENXIO)
                {
                    throw Failure("lseek(SEEK_HOLE)", position, end - position, errno);
                }

                // The file was truncated between the two calls: the rest reads as zeroes now.
                extents.Add(position, end - position, ExtentFlags.HoleZero);
                position = end;
                break;
            }

            // hole == position means a concurrent punch turned this data into a hole since SEEK_DATA: just look again.
            if (hole > position)
            {
                var dataEnd = Math.Min(hole, end);
                extents.Add(position, dataEnd - position, ExtentFlags.Data);
                position = dataEnd;
            }
        }

        return ValueTask.FromResult(position - offset);
    }

    /// <summary>
    /// Whether zeroing can avoid writing. For files, punching a hole past end of file is a harmless no-op that fails
    /// with EOPNOTSUPP where it is unsupported; ZERO_RANGE has no such side-effect-free probe, but where punching works
    /// a punch followed by an allocation is a fast zero too. For block devices, sysfs says whether the device
    /// implements WRITE ZEROES; without it the kernel would emulate BLKZEROOUT by writing.
    /// </summary>
    private bool ProbeFastZero()
    {
        if (_noFallocate)
        {
            return false;
        }

        if (_isBlockDevice)
        {
            return BlockDeviceWriteZeroesMaxBytes() > 0;
        }

        if (LibC.FAllocate(_handle, LibC.FALLOC_FL_PUNCH_HOLE | LibC.FALLOC_FL_KEEP_SIZE, Size, 4096) == 0)
        {
            return true;
        }

        _punchUnsupported = true;
        return false;
    }

    private long BlockDeviceWriteZeroesMaxBytes()
    {
        if (LibC.FStat(_handle, LibC.STATX_TYPE, out var stat) != 0)
        {
            return 0;
        }

        // A partition's sysfs directory has no queue of its own; the queue belongs to the parent disk.
        var device = $"/sys/dev/block/{stat.RdevMajor}:{stat.RdevMinor}";
        foreach (var candidate in new[] { $"{device}/queue/write_zeroes_max_bytes", $"{device}/../queue/write_zeroes_max_bytes" })
        {
            try
            {
                if (File.Exists(candidate) && long.TryParse(File.ReadAllText(candidate).Trim(), out var bytes))
                {
                    return bytes;
                }
            }
            catch (IOException)
            {
                return 0;
            }
        }

        return 0;
    }

    /// <summary>Zeroes a file range without writing data; false when the filesystem offers no way to.</summary>
    private bool TryZeroFile(long offset, long length, WriteZeroesFlags flags)
    {
        if ((flags & WriteZeroesFlags.MayPunchHole) != 0 && TryFallocate(LibC.FALLOC_FL_PUNCH_HOLE, "fallocate(PUNCH_HOLE)", offset, length))
        {
            return true;
        }

        if (TryFallocate(LibC.FALLOC_FL_ZERO_RANGE, "fallocate(ZERO_RANGE)", offset, length))
        {
            return true;
        }

        // tmpfs, for one, can punch but not ZERO_RANGE; re-allocating the hole keeps the range allocated as asked.
        if ((flags & WriteZeroesFlags.MayPunchHole) == 0 && TryFallocate(LibC.FALLOC_FL_PUNCH_HOLE, "fallocate(PUNCH_HOLE)", offset, length))
        {
            if (LibC.FAllocate(_handle, LibC.FALLOC_FL_KEEP_SIZE, offset, length) != 0)
            {
                throw Failure("fallocate", offset, length, LibC.LastErrno);
            }

            return true;
        }

        return false;
    }

    /// <summary>Runs fallocate with KEEP_SIZE; false (and remembered) when the filesystem does not support the mode.</summary>
    private bool TryFallocate(int mode, string operation, long offset, long length)
    {
        var unsupported = mode == LibC.FALLOC_FL_PUNCH_HOLE ? _punchUnsupported : _zeroRangeUnsupported;
        if (_noFallocate || unsupported)
        {
            return false;
        }

        if (LibC.FAllocate(_handle, mode | LibC.FALLOC_FL_KEEP_SIZE, offset, length) == 0)
        {
            return true;
        }

        var errno = LibC.LastErrno;
        if (errno != Errno.EOPNOTSUPP)
        {
            throw Failure(operation, offset, length, errno);
        }

        if (mode == LibC.FALLOC_FL_PUNCH_HOLE)
        {
            _punchUnsupported = true;
        }
        else
        {
            _zeroRangeUnsupported = true;
        }

        return false;
    }

    private async ValueTask ZeroBlockDeviceAsync(long offset, long length, WriteZeroesFlags flags, CancellationToken cancellationToken)
    {
        // The ioctls take whole sectors only; the partial sectors at the edges are written, through the buffered
        // descriptor in O_DIRECT mode because they are not sector-aligned.
        var end = offset + length;
        var start = Math.Min((offset + _sectorSize - 1) & ~(long)(_sectorSize - 1), end);
        var alignedEnd = Math.Max(end & ~(long)(_sectorSize - 1), start);
        if (start > offset)
        {
            await WritePartialBlockZeroesAsync(offset, (int)(start - offset), cancellationToken);
        }

        if (alignedEnd > start && !await RunAsync(() => TryZeroBlockRange(start, alignedEnd - start, flags), cancellationToken))
        {
            if ((flags & WriteZeroesFlags.FastOnly) != 0)
            {
                throw new BlockDeviceException(Errno.ENOTSUP, $"write zeroes on {Path} at {start}+{alignedEnd - start}: BLKZEROOUT is not supported");
            }

            await WriteZeroesSlowAsync(start, alignedEnd - start, cancellationToken);
        }

        if (end > alignedEnd)
        {
            await WritePartialBlockZeroesAsync(alignedEnd, (int)(end - alignedEnd), cancellationToken);
        }
    }

    private bool TryZeroBlockRange(long offset, long length, WriteZeroesFlags flags)
    {
        // On a block device PUNCH_HOLE means "zero, unmapping allowed, never by writing", so it is tried only when
        // unmapping is allowed; BLKZEROOUT keeps the blocks mapped and lets the kernel fall back to writing.
        return ((flags & WriteZeroesFlags.MayPunchHole) != 0 && TryFallocate(LibC.FALLOC_FL_PUNCH_HOLE, "fallocate(PUNCH_HOLE)", offset, length))
            || TryBlockRange(LibC.BLKZEROOUT, "ioctl(BLKZEROOUT)", offset, length);
    }

    /// <summary>Runs a block range ioctl; false when the device does not support it.</summary>
    private bool TryBlockRange(nuint request, string operation, long offset, long length)
    {
        if (LibC.IoctlRange(_handle, request, new LibC.ByteRange((ulong)offset, (ulong)length)) == 0)
        {
            return true;
        }

        var errno = LibC.LastErrno;
        return errno == Errno.EOPNOTSUPP ? false : throw Failure(operation, offset, length, errno);
    }

    private async ValueTask WriteZeroesSlowAsync(long offset, long length, CancellationToken cancellationToken)
    {
        // O_DIRECT writes must start on a block boundary; the buffered descriptor takes the piece before it.
        var head = _direct ? (int)Math.Min(length, -offset & (MinimumBlockSize - 1)) : 0;
        if (head > 0)
        {
            await WritePartialBlockZeroesAsync(offset, head, cancellationToken);
            offset += head;
            length -= head;
        }

        if (length == 0)
        {
            return;
        }

        using var zeroes = BufferPool.Shared.Rent((int)Math.Min(length, ZeroChunkSize));
        zeroes.Span.Clear();
        while (length > 0)
        {
            var count = (int)Math.Min(length, zeroes.Length);
            await WriteCoreAsync(offset, zeroes.Memory[..count], cancellationToken);
            offset += count;
            length -= count;
        }
    }

    private async ValueTask WritePartialBlockZeroesAsync(long offset, int length, CancellationToken cancellationToken)
    {
        try
        {
            await RandomAccess.WriteAsync(_tailHandle ?? _handle, new byte[length], offset, cancellationToken);
        }
        catch (Exception e) when (IsSystemError(e))
        {
            throw Failure("pwrite", offset, length, e);
        }
    }

    /// <summary>Runs a blocking system call (fallocate, ioctl) off the caller's thread: on large ranges they take a while.</summary>
    private static async ValueTask<bool> RunAsync(Func<bool> call, CancellationToken cancellationToken) =>
        await Task.Run(call, cancellationToken);
}
