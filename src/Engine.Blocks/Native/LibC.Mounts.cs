using System.Runtime.InteropServices;

namespace Engine.Blocks.Native;

internal static partial class LibC
{
    /// <summary><c>MNT_DETACH</c>: lazy unmount; the mount disappears now and goes when its last user is done.</summary>
    public const int MNT_DETACH = 2;

    /// <summary>umount2(2).</summary>
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int umount2(string target, int flags);
}
