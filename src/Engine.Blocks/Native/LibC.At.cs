using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Engine.Blocks.Native;

/// <summary>
/// The <c>*at</c> calls: names resolved relative to an open directory, so a walk down a tree can open each folder
/// with <c>O_NOFOLLOW</c> and act inside it, and a symbolic link put in place of a folder is refused instead of
/// followed (path-based calls follow links in every component but the last).
/// </summary>
internal static partial class LibC
{
    /// <summary><c>STATX_MTIME</c>: ask statx for the modification time.</summary>
    public const uint STATX_MTIME = 0x40;

    [LibraryImport("libc", EntryPoint = "openat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int OpenAt(SafeFileHandle dirfd, string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "mkdirat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int MkDirAt(SafeFileHandle dirfd, string path, int mode);

    /// <summary>A hard link: fails with EEXIST when <paramref name="newPath"/> exists, which makes it an atomic create-if-absent.</summary>
    [LibraryImport("libc", EntryPoint = "linkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int LinkAt(SafeFileHandle oldDirfd, string oldPath, SafeFileHandle newDirfd, string newPath, int flags);

    [LibraryImport("libc", EntryPoint = "renameat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int RenameAt(SafeFileHandle oldDirfd, string oldPath, SafeFileHandle newDirfd, string newPath);

    [LibraryImport("libc", EntryPoint = "unlinkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int UnlinkAt(SafeFileHandle dirfd, string path, int flags);

    /// <summary><see cref="OpenAt"/> close-on-exec, wrapped; null (and the errno) when it fails.</summary>
    public static SafeFileHandle? TryOpenAt(SafeFileHandle dirfd, string path, int flags, int mode, out int errno)
    {
        var fd = OpenAt(dirfd, path, flags | O_CLOEXEC, mode);
        if (fd < 0)
        {
            errno = LastErrno;
            return null;
        }

        errno = 0;
        return new SafeFileHandle(fd, ownsHandle: true);
    }
}
