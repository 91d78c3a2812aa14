using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Engine.Blocks.Native;

/// <summary>
/// The Linux system calls the block devices need beyond what <see cref="RandomAccess"/> offers. Calls that take a
/// descriptor take the <see cref="SafeFileHandle"/> so that the marshaller holds a reference for the duration of the
/// call and a concurrent dispose can never let the number be reused under us.
/// </summary>
internal static partial class LibC
{
    public const int O_RDONLY = 0;
    public const int O_RDWR = 2;
    public const int O_CLOEXEC = 0x80000;

    public const int SEEK_DATA = 3;
    public const int SEEK_HOLE = 4;

    public const int FALLOC_FL_KEEP_SIZE = 0x01;
    public const int FALLOC_FL_PUNCH_HOLE = 0x02;
    public const int FALLOC_FL_ZERO_RANGE = 0x10;

    public const int POSIX_FADV_WILLNEED = 3;

    public const int AT_EMPTY_PATH = 0x1000;
    public const uint STATX_TYPE = 0x1;
    public const uint STATX_SIZE = 0x200;
    public const uint STATX_BLOCKS = 0x400;
    public const uint STATX_DIOALIGN = 0x2000;

    public const nuint BLKSSZGET = 0x1268;
    public const nuint BLKDISCARD = 0x1277;
    public const nuint BLKZEROOUT = 0x127F;
    public const nuint BLKGETSIZE64 = 0x80081272;

    public const int ENOENT = 2;

    /// <summary>O_DIRECT differs between architectures (generic 0x4000; arm and arm64 moved it to make room for O_DIRECTORY).</summary>
    public static int O_DIRECT => RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x10000 : 0x4000;

    // open(2) is variadic in C; passing the mode as a fixed third int is what every Linux ABI the runtime supports expects.
    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    public static partial long LSeek(SafeFileHandle fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "fallocate", SetLastError = true)]
    public static partial int FAllocate(SafeFileHandle fd, int mode, long offset, long length);

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    public static partial int FDataSync(SafeFileHandle fd);

    /// <summary>Returns the error number itself (not -1 and errno), as POSIX specifies for this call.</summary>
    [LibraryImport("libc", EntryPoint = "sync_file_range", SetLastError = true)]
    public static partial int SyncFileRange(SafeFileHandle fd, long offset, long length, uint flags);

    public const uint SYNC_FILE_RANGE_WAIT_BEFORE = 1;
    public const uint SYNC_FILE_RANGE_WRITE = 2;
    public const uint SYNC_FILE_RANGE_WAIT_AFTER = 4;
    public const int POSIX_FADV_DONTNEED = 4;

    [LibraryImport("libc", EntryPoint = "posix_fadvise")]
    public static partial int PosixFAdvise(SafeFileHandle fd, long offset, long length, int advice);

    [LibraryImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    public static partial int FTruncate(SafeFileHandle fd, long length);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int StatX(SafeFileHandle dirfd, string path, int flags, uint mask, out Statx buffer);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int IoctlGetUInt64(SafeFileHandle fd, nuint request, out ulong value);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int IoctlGetInt32(SafeFileHandle fd, nuint request, out int value);

    /// <summary>For BLKDISCARD and BLKZEROOUT, whose argument is <c>uint64_t[2] { start, length }</c>.</summary>
    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int IoctlRange(SafeFileHandle fd, nuint request, in ByteRange range);

    /// <summary>The errno of the last failed call on this thread.</summary>
    public static int LastErrno => Marshal.GetLastPInvokeError();

    /// <summary>strerror(3) text.</summary>
    public static string StrError(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    /// <summary>Metadata of an open descriptor.</summary>
    public static int FStat(SafeFileHandle fd, uint mask, out Statx buffer) => StatX(fd, string.Empty, AT_EMPTY_PATH, mask, out buffer);

    /// <summary>The argument of the block range ioctls.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public readonly record struct ByteRange(ulong Start, ulong Length);
}
