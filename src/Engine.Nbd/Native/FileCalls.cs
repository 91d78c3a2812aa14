using System.Runtime.InteropServices;
using Engine.Blocks;

namespace Engine.Nbd.Native;

/// <summary>
/// The one file syscall the server needs: the type of whatever sits at a socket path. .NET tells files, directories
/// and links apart, but not a socket from a regular file.
/// </summary>
internal static unsafe partial class FileCalls
{
    /// <summary>The S_IFMT bits of a socket.</summary>
    public const int SocketType = 0xC000;

    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxType = 0x1;
    private const int StatxSize = 0x100;

    /// <summary>Offset of <c>stx_mode</c> in <c>struct statx</c>, the same on every architecture.</summary>
    private const int ModeOffset = 0x1C;

    private const int FileTypeMask = 0xF000;

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int StatX(int dirfd, string path, int flags, uint mask, byte* buffer);

    /// <summary>
    /// The S_IFMT bits of <paramref name="path"/>, not following a final symlink: 0 when nothing is there, -errno
    /// when it cannot be looked at.
    /// </summary>
    public static int FileType(string path)
    {
        var buffer = stackalloc byte[StatxSize];
        if (StatX(AtFdCwd, path, AtSymlinkNoFollow, StatxType, buffer) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            return errno == Errno.ENOENT ? 0 : -errno;
        }

        return *(ushort*)(buffer + ModeOffset) & FileTypeMask;
    }
}
