using Engine.Blocks;
using Engine.Blocks.Native;
using Engine.Qcow2.Format;
using Microsoft.Win32.SafeHandles;

namespace Engine.Qcow2.Reading;

/// <summary>
/// One file of a chain opened read-only: its descriptor, its length and its identity (device, inode), by which a
/// backing chain that comes back to a file it already holds is recognised whatever path names it.
/// </summary>
internal sealed class ImageFile : IDisposable
{
    private ImageFile(string path, SafeFileHandle handle, long length, long allocatedBytes, (ulong Device, ulong Inode) identity, bool isBlockDevice)
    {
        IsBlockDevice = isBlockDevice;
        Path = path;
        Handle = handle;
        Length = length;
        AllocatedBytes = allocatedBytes;
        Identity = identity;
    }

    /// <summary>The path as opened, for messages.</summary>
    public string Path { get; }

    /// <summary>The read-only descriptor; only positional reads are used on it.</summary>
    public SafeFileHandle Handle { get; }

    /// <summary>Length of the file when opened.</summary>
    public long Length { get; }

    /// <summary>Bytes the file occupies on disk (st_blocks × 512) when opened.</summary>
    public long AllocatedBytes { get; }

    /// <summary>Whether the file is a block device rather than a regular file.</summary>
    public bool IsBlockDevice { get; }

    /// <summary>Whether the file starts with the qcow2 magic (qemu's probe, reduced to the formats Engine reads).</summary>
    public bool StartsWithQcow2Magic()
    {
        Span<byte> magic = stackalloc byte[4];
        return ReadAt(0, magic) == magic.Length && Qcow2Magic.Matches(magic);
    }

    /// <summary>(st_dev, st_ino) of the file.</summary>
    public (ulong Device, ulong Inode) Identity { get; }

    /// <summary>Opens <paramref name="path"/> read-only.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="UnauthorizedAccessException">It cannot be read.</exception>
    /// <exception cref="BlockDeviceException">It is neither a regular file nor a block device, or cannot be opened or examined.</exception>
    public static ImageFile Open(string path)
    {
        // O_NONBLOCK so that a name pointing at a FIFO cannot hang the open; it is refused below like any non-file.
        var handle = LibC.TryOpen(path, LibC.O_RDONLY | LibC.O_NONBLOCK, 0, out var errno) ?? throw errno switch
        {
            Errno.ENOENT => new FileNotFoundException($"{path}: no such file", path),
            Errno.EACCES => new UnauthorizedAccessException($"{path}: permission denied"),
            _ => new BlockDeviceException(errno, $"open on {path}: {LibC.StrError(errno)}"),
        };
        try
        {
            if (LibC.FStat(handle, LibC.STATX_BASIC_STATS, out var stat) != 0)
            {
                throw new BlockDeviceException(LibC.LastErrno, $"{path}: statx failed");
            }

            long length;
            if (stat.IsRegularFile)
            {
                length = (long)stat.Size;
            }
            else if (stat.IsBlockDevice && LibC.IoctlGetUInt64(handle, LibC.BLKGETSIZE64, out var bytes) == 0)
            {
                length = (long)bytes;
            }
            else
            {
                throw new BlockDeviceException(Errno.EINVAL, $"{path} is neither a regular file nor a block device");
            }

            return new ImageFile(path, handle, length, (long)stat.Blocks * 512, (stat.Device, stat.Inode), !stat.IsRegularFile);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Reads until <paramref name="destination"/> is full; bytes past the end of the file read as zeroes. Returns the bytes the file held.</summary>
    public int ReadAt(long offset, Span<byte> destination)
    {
        var total = 0;
        while (total < destination.Length)
        {
            var read = RandomAccess.Read(Handle, destination[total..], offset + total);
            if (read == 0)
            {
                destination[total..].Clear();
                break;
            }

            total += read;
        }

        return total;
    }

    /// <summary>Reads exactly <paramref name="destination"/>.Length bytes of metadata, which must lie inside the file.</summary>
    /// <exception cref="Qcow2FormatException">The range runs past the end of the file.</exception>
    public void ReadMetadata(long offset, Span<byte> destination, string what)
    {
        if (offset < 0 || offset > Length || destination.Length > Length - offset)
        {
            throw new Qcow2FormatException(Path, offset,
                $"{what} ({destination.Length} bytes) runs past the end of the file ({Length} bytes)");
        }

        if (ReadAt(offset, destination) != destination.Length)
        {
            throw new Qcow2FormatException(Path, offset, $"{what} is cut short: the file shrank while it was read");
        }
    }

    /// <summary>
    /// Whether the file holds data at <paramref name="offset"/> (SEEK_DATA/SEEK_HOLE), and for how many bytes of
    /// <paramref name="length"/> that holds. Past the end of the file is a hole; a file system that cannot tell is data.
    /// </summary>
    public long ProbeData(long offset, long length, out bool isData)
    {
        var data = LibC.LSeek(Handle, offset, LibC.SEEK_DATA);
        if (data < 0)
        {
            isData = LibC.LastErrno != Errno.ENXIO;
            return length;
        }

        if (data > offset)
        {
            isData = false;
            return Math.Min(data - offset, length);
        }

        var hole = LibC.LSeek(Handle, offset, LibC.SEEK_HOLE);
        isData = true;
        return hole <= offset ? length : Math.Min(hole - offset, length);
    }

    /// <inheritdoc />
    public void Dispose() => Handle.Dispose();
}
