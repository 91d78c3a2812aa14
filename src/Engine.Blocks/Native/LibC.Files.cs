using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Engine.Blocks.Native;

/// <summary>Opening, positioning, sizing, allocating and syncing files.</summary>
internal static partial class LibC
{
    public const int O_RDONLY = 0;
    public const int O_WRONLY = 1;
    public const int O_RDWR = 2;
    public const int O_CREAT = 0x40;
    public const int O_EXCL = 0x80;
    public const int O_NONBLOCK = 0x800;
    public const int O_CLOEXEC = 0x80000;

    public const int SEEK_DATA = 3;
    public const int SEEK_HOLE = 4;

    public const int FALLOC_FL_KEEP_SIZE = 0x01;
    public const int FALLOC_FL_PUNCH_HOLE = 0x02;
    public const int FALLOC_FL_ZERO_RANGE = 0x10;

    public const int POSIX_FADV_WILLNEED = 3;
    public const int POSIX_FADV_DONTNEED = 4;

    public const uint SYNC_FILE_RANGE_WAIT_BEFORE = 1;
    public const uint SYNC_FILE_RANGE_WRITE = 2;
    public const uint SYNC_FILE_RANGE_WAIT_AFTER = 4;

    /// <summary>
    /// arm and arm64 number O_DIRECTORY, O_NOFOLLOW and O_DIRECT differently from x86 and the generic ABI. powerpc
    /// numbers them differently again (its generic O_NOFOLLOW value is O_DIRECT there), so an architecture outside
    /// these two tables is refused rather than handed flags that would silently mean something else.
    /// </summary>
    private static readonly bool ArmOpenFlags = RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.Arm64 or Architecture.Arm or Architecture.Armv6 => true,
        Architecture.X64 or Architecture.X86 or Architecture.S390x or Architecture.RiscV64 or Architecture.LoongArch64 => false,
        var other => throw new PlatformNotSupportedException($"Engine does not know the open(2) flag values of {other}"),
    };

    /// <summary>Generic 0x10000; arm and arm64 0x4000.</summary>
    public static int O_DIRECTORY => ArmOpenFlags ? 0x4000 : 0x10000;

    /// <summary>Generic 0x20000; arm and arm64 0x8000.</summary>
    public static int O_NOFOLLOW => ArmOpenFlags ? 0x8000 : 0x20000;

    /// <summary>Generic 0x4000; arm and arm64 moved it to 0x10000 to make room for O_DIRECTORY.</summary>
    public static int O_DIRECT => ArmOpenFlags ? 0x10000 : 0x4000;

    // open(2) is variadic in C; passing the mode as a fixed third int is what every Linux ABI the runtime supports expects.
    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    public static partial long LSeek(SafeFileHandle fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    public static partial int FTruncate(SafeFileHandle fd, long length);

    [LibraryImport("libc", EntryPoint = "fallocate", SetLastError = true)]
    public static partial int FAllocate(SafeFileHandle fd, int mode, long offset, long length);

    [LibraryImport("libc", EntryPoint = "posix_fadvise")]
    public static partial int PosixFAdvise(SafeFileHandle fd, long offset, long length, int advice);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    public static partial int FSync(SafeFileHandle fd);

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    public static partial int FDataSync(SafeFileHandle fd);

    /// <summary>Returns the error number itself (not -1 and errno), as POSIX specifies for this call.</summary>
    [LibraryImport("libc", EntryPoint = "sync_file_range", SetLastError = true)]
    public static partial int SyncFileRange(SafeFileHandle fd, long offset, long length, uint flags);

    /// <summary>Flushes the whole file system holding <paramref name="fd"/>.</summary>
    [LibraryImport("libc", EntryPoint = "syncfs", SetLastError = true)]
    public static partial int SyncFs(SafeFileHandle fd);

    /// <summary>Opens a file close-on-exec and wraps the descriptor; null (and the errno) when it fails.</summary>
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
}
