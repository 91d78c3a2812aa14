using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Engine.Blocks.Native;

/// <summary>Memory mapping and descriptor inspection, for readers of descriptors they did not open.</summary>
internal static partial class LibC
{
    public const int PROT_READ = 0x1;
    public const int MAP_SHARED = 0x01;
    public const int MADV_SEQUENTIAL = 2;
    public const int MADV_DONTNEED = 4;

    /// <summary><c>statfs.f_type</c> of FUSE file systems.</summary>
    public const long FUSE_SUPER_MAGIC = 0x65735546;

    public static readonly nint MapFailed = -1;

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    public static partial nint MMap(nint address, nuint length, int protection, int flags, SafeFileHandle fd, long offset);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    public static partial int MUnmap(nint address, nuint length);

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    public static partial int MAdvise(nint address, nuint length, int advice);

    /// <summary>Returns <c>f_type</c> of the file system holding the descriptor, or -1 with errno set.</summary>
    public static unsafe long FileSystemType(SafeFileHandle fd)
    {
        // struct statfs on 64-bit Linux: f_type is the first field (a long); 120 bytes in all.
        var buffer = stackalloc long[16];
        return FStatFs(fd, buffer) == 0 ? buffer[0] : -1;
    }

    [LibraryImport("libc", EntryPoint = "fstatfs", SetLastError = true)]
    private static unsafe partial int FStatFs(SafeFileHandle fd, long* buffer);
}
