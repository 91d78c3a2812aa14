using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Engine.Backup.Repository.Native;

/// <summary>
/// The Linux calls the repository needs beyond <see cref="File"/>: advisory locks, whole-filesystem sync, directory
/// fsync and timestamp updates. Descriptors are passed as <see cref="SafeFileHandle"/> so a concurrent dispose cannot
/// let the number be reused during a call.
/// </summary>
internal static partial class RepositoryLibC
{
    public const int O_RDONLY = 0;
    public const int O_WRONLY = 1;
    public const int O_RDWR = 2;
    public const int O_CREAT = 0x40;
    public const int O_EXCL = 0x80;
    public const int O_DIRECTORY = 0x10000;
    public const int O_CLOEXEC = 0x80000;
    public const int O_DIRECT = 0x4000;
    public const int O_NOFOLLOW = 0x20000;
    public const int O_NONBLOCK = 0x800;

    public const int F_GETFL = 3;
    public const int F_SETFL = 4;

    public const int LOCK_SH = 1;
    public const int LOCK_EX = 2;
    public const int LOCK_NB = 4;
    public const int LOCK_UN = 8;

    public const int AT_FDCWD = -100;

    public const int ENOENT = 2;
    public const int EINTR = 4;
    public const int EEXIST = 17;
    public const int EWOULDBLOCK = 11;
    public const int EINVAL = 22;
    public const int ENOSPC = 28;
    public const int EACCES = 13;
    public const int ELOOP = 40;
    public const int ENOTEMPTY = 39;

    public const int AT_EMPTY_PATH = 0x1000;
    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const uint STATX_TYPE = 1;
    public const uint STATX_MODE = 2;
    public const uint STATX_SIZE = 0x200;
    public const int S_IFMT = 0xF000;
    public const int S_IFREG = 0x8000;
    public const int S_IFBLK = 0x6000;

    // struct statx is the same on every architecture: 256 bytes, stx_mode (u16) at offset 28.
    private const int StatxSize = 256;
    private const int StatxModeOffset = 28;
    private const int StatxSizeOffset = 40;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int dirfd, string path, int flags, uint mask, ref byte buffer);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(SafeFileHandle dirfd, string path, int flags, uint mask, ref byte buffer);

    [LibraryImport("libc", EntryPoint = "chmod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Chmod(string path, int mode);

    [LibraryImport("libc", EntryPoint = "rmdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int RmDir(string path);

    [LibraryImport("libc", EntryPoint = "mkdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int MkDir(string path, int mode);

    /// <summary><c>fcntl</c> with an int argument (F_GETFL, F_SETFL).</summary>
    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    public static partial int Fcntl(SafeFileHandle fd, int command, int argument);

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    public static partial int Flock(SafeFileHandle fd, int operation);

    [LibraryImport("libc", EntryPoint = "syncfs", SetLastError = true)]
    public static partial int SyncFs(SafeFileHandle fd);

    public const uint SYNC_FILE_RANGE_WRITE = 2;

    /// <summary>Starts writeback of a file's dirty pages without waiting for it.</summary>
    [LibraryImport("libc", EntryPoint = "sync_file_range", SetLastError = true)]
    public static partial int SyncFileRange(SafeFileHandle fd, long offset, long length, uint flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    public static partial int FSync(SafeFileHandle fd);

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    public static partial int FDataSync(SafeFileHandle fd);

    /// <summary>With a null <paramref name="times"/> both timestamps become "now".</summary>
    [LibraryImport("libc", EntryPoint = "utimensat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int UTimeNsAt(int dirfd, string path, nint times, int flags);

    /// <summary>With a null <paramref name="times"/> both timestamps become "now".</summary>
    [LibraryImport("libc", EntryPoint = "futimens", SetLastError = true)]
    public static partial int FUTimeNs(SafeFileHandle fd, nint times);

    /// <summary>The errno of the last failed call on this thread.</summary>
    public static int LastErrno => Marshal.GetLastPInvokeError();

    /// <summary>Opens a file and wraps the descriptor; returns null (and the errno) when it fails.</summary>
    public static SafeFileHandle? TryOpen(string path, int flags, int mode, out int errno)
    {
        var fd = Open(path, flags | O_CLOEXEC, mode);
        if (fd < 0)
        {
            errno = LastErrno;
            return null;
        }

        errno = 0;
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>The file type bits (<c>S_IFMT</c>) of an open descriptor, or -1 with the errno.</summary>
    public static int FileType(SafeFileHandle fd, out int errno)
    {
        Span<byte> buffer = stackalloc byte[StatxSize];
        if (Statx(fd, "", AT_EMPTY_PATH, STATX_TYPE, ref buffer[0]) != 0)
        {
            errno = LastErrno;
            return -1;
        }

        errno = 0;
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(buffer[StatxModeOffset..]) & S_IFMT;
    }

    /// <summary>The file type bits (<c>S_IFMT</c>) of a path (links followed), or -1 with the errno (ENOENT when absent).</summary>
    public static int FileType(string path, out int errno)
    {
        Span<byte> buffer = stackalloc byte[StatxSize];
        if (Statx(AT_FDCWD, path, 0, STATX_TYPE, ref buffer[0]) != 0)
        {
            errno = LastErrno;
            return -1;
        }

        errno = 0;
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(buffer[StatxModeOffset..]) & S_IFMT;
    }

    /// <summary>The mode (type and permission bits) of a path, links followed, or -1 when it cannot be read.</summary>
    public static int Mode(string path)
    {
        Span<byte> buffer = stackalloc byte[StatxSize];
        return Statx(AT_FDCWD, path, 0, STATX_TYPE | STATX_MODE, ref buffer[0]) == 0
            ? System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(buffer[StatxModeOffset..])
            : -1;
    }

    /// <summary>The file type bits of a path itself (a link is not followed) and its size, or -1 with the errno.</summary>
    public static int LinkType(string path, out long size, out int errno)
    {
        Span<byte> buffer = stackalloc byte[StatxSize];
        size = 0;
        if (Statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_SIZE, ref buffer[0]) != 0)
        {
            errno = LastErrno;
            return -1;
        }

        errno = 0;
        size = System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(buffer[StatxSizeOffset..]);
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(buffer[StatxModeOffset..]) & S_IFMT;
    }

    /// <summary>
    /// Opens a regular file without following a symbolic link at its last component (nor blocking on a FIFO put in
    /// its place); null with the errno when absent (ENOENT), or ELOOP for a link and for anything else that is not a
    /// regular file (a directory, a FIFO, a device node).
    /// </summary>
    public static SafeFileHandle? TryOpenRegular(string path, int flags, out int errno)
    {
        var handle = TryOpen(path, flags | O_NOFOLLOW | O_NONBLOCK, 0, out errno);
        if (handle is null)
        {
            return null;
        }

        var type = FileType(handle, out errno);
        if (type == S_IFREG)
        {
            return handle;
        }

        handle.Dispose();
        errno = type < 0 ? errno : ELOOP;
        return null;
    }

    /// <summary>Opens a file or throws an <see cref="IOException"/> naming it.</summary>
    public static SafeFileHandle OpenOrThrow(string path, int flags, int mode = 0)
    {
        return TryOpen(path, flags, mode, out var errno) ?? throw Error(errno, "open", path);
    }

    /// <summary>Takes a <c>flock</c>, retrying when a signal interrupts the wait.</summary>
    public static void Lock(SafeFileHandle fd, int operation, string path)
    {
        while (Flock(fd, operation) != 0)
        {
            var errno = LastErrno;
            if (errno != EINTR)
            {
                throw Error(errno, "flock", path);
            }
        }
    }

    /// <summary>An <see cref="IOException"/> carrying the errno, the call and the path.</summary>
    public static IOException Error(int errno, string call, string path) =>
        new($"{call} {path}: {Marshal.GetPInvokeErrorMessage(errno)}", errno);

    /// <summary>fsync(2) of a directory, so the renames inside it are durable.</summary>
    public static void FSyncDirectory(string path)
    {
        using var fd = OpenOrThrow(path, O_RDONLY | O_DIRECTORY);
        if (FSync(fd) != 0)
        {
            throw Error(LastErrno, "fsync", path);
        }
    }
}
