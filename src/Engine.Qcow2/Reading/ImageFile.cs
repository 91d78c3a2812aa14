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
    private ImageFile(string path, SafeFileHandle handle, long length, (ulong Device, ulong Inode) identity)
    {
        Path = path;
        Handle = handle;
        Length = length;
        Identity = identity;
    }

    /// <summary>The path as opened, for messages.</summary>
    public string Path { get; }

    /// <summary>The read-only descriptor; only positional reads are used on it.</summary>
    public SafeFileHandle Handle { get; }

    /// <summary>Length of the file when opened.</summary>
    public long Length { get; }

    /// <summary>(st_dev, st_ino) of the file.</summary>
    public (ulong Device, ulong Inode) Identity { get; }

    /// <summary>Opens <paramref name="path"/> read-only.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="UnauthorizedAccessException">It cannot be read.</exception>
    /// <exception cref="BlockDeviceException">It is neither a regular file nor a block device, or cannot be examined.</exception>
    public static ImageFile Open(string path)
    {
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
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

            return new ImageFile(path, handle, length, (stat.Device, stat.Inode));
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

    /// <inheritdoc />
    public void Dispose() => Handle.Dispose();
}
