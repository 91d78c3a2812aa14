using Engine.Blocks;
using Engine.Blocks.Native;
using Microsoft.Win32.SafeHandles;

namespace Engine.Backup;

/// <summary>
/// The repository's rules over <see cref="LibC"/>: what a path or descriptor is, opening only regular files and never
/// through a symbolic link, blocking locks that survive signals, durable directory entries, and errors that name the
/// call and the path. It sits in the project's root namespace because the repository's children, its storage
/// backends, restores and the container tar writer (a durable directory entry) all follow these rules.
/// </summary>
internal static class RepositoryCalls
{
    /// <summary>The file type bits (<c>S_IFMT</c>) of an open descriptor, or -1 with the errno.</summary>
    public static int FileType(SafeFileHandle fd, out int errno)
    {
        if (LibC.FStat(fd, LibC.STATX_TYPE, out var stat) != 0)
        {
            errno = LibC.LastErrno;
            return -1;
        }

        errno = 0;
        return stat.FileType;
    }

    /// <summary>The file type bits (<c>S_IFMT</c>) of a path (links followed), or -1 with the errno (ENOENT when absent).</summary>
    public static int FileType(string path, out int errno)
    {
        return LibC.TryStat(path, LibC.STATX_TYPE, out var stat, out errno) ? stat.FileType : -1;
    }

    /// <summary>The mode (type and permission bits) of a path, links followed, or -1 when it cannot be read.</summary>
    public static int Mode(string path)
    {
        return LibC.TryStat(path, LibC.STATX_TYPE | LibC.STATX_MODE, out var stat, out _) ? stat.Mode : -1;
    }

    /// <summary>The file type bits of a path itself (a link is not followed) and its size, or -1 with the errno.</summary>
    public static int LinkType(string path, out long size, out int errno)
    {
        if (!LibC.TryLStat(path, LibC.STATX_TYPE | LibC.STATX_SIZE, out var stat, out errno))
        {
            size = 0;
            return -1;
        }

        size = (long)stat.Size;
        return stat.FileType;
    }

    /// <summary>
    /// Opens a regular file without following a symbolic link at its last component (nor blocking on a FIFO put in
    /// its place); null with the errno when absent (ENOENT), or ELOOP for a link and for anything else that is not a
    /// regular file (a directory, a FIFO, a device node).
    /// </summary>
    public static SafeFileHandle? TryOpenRegular(string path, int flags, out int errno)
    {
        var handle = LibC.TryOpen(path, flags | LibC.O_NOFOLLOW | LibC.O_NONBLOCK, 0, out errno);
        if (handle is null)
        {
            return null;
        }

        var type = FileType(handle, out errno);
        if (type == Statx.RegularFile)
        {
            return handle;
        }

        handle.Dispose();
        errno = type < 0 ? errno : Errno.ELOOP;
        return null;
    }

    /// <summary>Opens a file or throws an <see cref="IOException"/> naming it.</summary>
    public static SafeFileHandle OpenOrThrow(string path, int flags, int mode = 0)
    {
        return LibC.TryOpen(path, flags, mode, out var errno) ?? throw Error(errno, "open", path);
    }

    /// <summary>Takes a <c>flock</c>, retrying when a signal interrupts the wait.</summary>
    public static void Lock(SafeFileHandle fd, int operation, string path)
    {
        while (LibC.Flock(fd, operation) != 0)
        {
            var errno = LibC.LastErrno;
            if (errno != Errno.EINTR)
            {
                throw Error(errno, "flock", path);
            }
        }
    }

    /// <summary>An <see cref="IOException"/> carrying the errno, the call and the path.</summary>
    public static IOException Error(int errno, string call, string path) =>
        new($"{call} {path}: {LibC.StrError(errno)}", errno);

    /// <summary>fsync(2) of a directory, so the renames inside it are durable.</summary>
    public static void FSyncDirectory(string path)
    {
        using var fd = OpenOrThrow(path, LibC.O_RDONLY | LibC.O_DIRECTORY);
        if (LibC.FSync(fd) != 0)
        {
            throw Error(LibC.LastErrno, "fsync", path);
        }
    }
}
