using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Engine.Blocks.Native;

/// <summary>What a file is (statx) and its owner, mode and times.</summary>
internal static unsafe partial class LibC
{
    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const int AT_EMPTY_PATH = 0x1000;

    public const uint STATX_TYPE = 0x1;
    public const uint STATX_MODE = 0x2;
    public const uint STATX_SIZE = 0x200;
    public const uint STATX_BLOCKS = 0x400;
    public const uint STATX_BASIC_STATS = 0x7FF;
    public const uint STATX_DIOALIGN = 0x2000;

    /// <summary>
    /// <paramref name="dirfd"/> is a directory, a descriptor with <see cref="AT_EMPTY_PATH"/>, or
    /// <see cref="CurrentDirectory"/>.
    /// </summary>
    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int StatX(SafeFileHandle dirfd, string path, int flags, uint mask, out Statx buffer);

    [LibraryImport("libc", EntryPoint = "readlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint ReadLink(string path, byte* buffer, nuint size);

    [LibraryImport("libc", EntryPoint = "chmod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int ChMod(string path, int mode);

    [LibraryImport("libc", EntryPoint = "fchmod", SetLastError = true)]
    public static partial int FChMod(SafeFileHandle fd, int mode);

    [LibraryImport("libc", EntryPoint = "chown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Chown(string path, uint owner, uint group);

    /// <summary>chown of the path itself: a symbolic link, not its target.</summary>
    [LibraryImport("libc", EntryPoint = "lchown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int LChown(string path, uint owner, uint group);

    [LibraryImport("libc", EntryPoint = "fchown", SetLastError = true)]
    public static partial int FChown(SafeFileHandle fd, uint owner, uint group);

    /// <summary>With null <paramref name="times"/> both timestamps become "now".</summary>
    [LibraryImport("libc", EntryPoint = "utimensat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int UTimeNsAt(SafeFileHandle dirfd, string path, TimeSpec* times, int flags);

    /// <summary>With null <paramref name="times"/> both timestamps become "now".</summary>
    [LibraryImport("libc", EntryPoint = "futimens", SetLastError = true)]
    public static partial int FUTimeNs(SafeFileHandle fd, TimeSpec* times);

    /// <summary>Sets both timestamps of an open file to now.</summary>
    public static int FUTimeNsNow(SafeFileHandle fd) => FUTimeNs(fd, null);

    /// <summary>Metadata of an open descriptor.</summary>
    public static int FStat(SafeFileHandle fd, uint mask, out Statx buffer) => StatX(fd, string.Empty, AT_EMPTY_PATH, mask, out buffer);

    /// <summary>
    /// <c>lstat</c>: the file itself, never what a symbolic link points at. False (with the errno) on failure.
    /// <paramref name="mask"/> says which fields the caller reads.
    /// </summary>
    public static bool TryLStat(string path, uint mask, out Statx stat, out int errno)
    {
        if (StatX(CurrentDirectory, path, AT_SYMLINK_NOFOLLOW, mask, out stat) == 0)
        {
            errno = 0;
            return true;
        }

        errno = LastErrno;
        return false;
    }

    /// <summary><c>stat</c>: a path with symbolic links followed. False (with the errno) on failure.</summary>
    public static bool TryStat(string path, uint mask, out Statx stat, out int errno)
    {
        if (StatX(CurrentDirectory, path, 0, mask, out stat) == 0)
        {
            errno = 0;
            return true;
        }

        errno = LastErrno;
        return false;
    }
}
