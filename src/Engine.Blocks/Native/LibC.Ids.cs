using System.Runtime.InteropServices;

namespace Engine.Blocks.Native;

/// <summary>Who the process runs as, and handing a directory to another user.</summary>
internal static partial class LibC
{
    [LibraryImport("libc", EntryPoint = "geteuid")]
    public static partial uint GetEffectiveUserId();

    /// <summary>
    /// Creates a directory only its owner may enter (0700), owned by <paramref name="owner"/>: how a backup running
    /// as root hands a staging directory to the unprivileged user of a container. Throws naming the path.
    /// </summary>
    public static void CreatePrivateDirectory(string path, uint owner, uint group)
    {
        Directory.CreateDirectory(path);
        if (ChMod(path, 0b111_000_000) != 0)
        {
            var errno = LastErrno;
            throw new IOException($"chmod 0700 {path}: {StrError(errno)} (errno {errno})");
        }

        if (Chown(path, owner, group) != 0)
        {
            var errno = LastErrno;
            throw new IOException($"chown {owner}:{group} {path}: {StrError(errno)} (errno {errno})");
        }
    }
}
