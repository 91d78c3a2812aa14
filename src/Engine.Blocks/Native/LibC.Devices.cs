using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Engine.Blocks.Native;

/// <summary>Block device ioctls: size, logical sector size, discard and zeroing.</summary>
internal static partial class LibC
{
    public const nuint BLKSSZGET = 0x1268;
    public const nuint BLKDISCARD = 0x1277;
    public const nuint BLKZEROOUT = 0x127F;
    public const nuint BLKGETSIZE64 = 0x80081272;

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int IoctlGetUInt64(SafeFileHandle fd, nuint request, out ulong value);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int IoctlGetInt32(SafeFileHandle fd, nuint request, out int value);

    /// <summary>For BLKDISCARD and BLKZEROOUT, whose argument is <c>uint64_t[2] { start, length }</c>.</summary>
    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int IoctlRange(SafeFileHandle fd, nuint request, in ByteRange range);

    /// <summary>The argument of the block range ioctls.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public readonly record struct ByteRange(ulong Start, ulong Length);
}
