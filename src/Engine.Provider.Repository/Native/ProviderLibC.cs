using System.Runtime.InteropServices;

namespace Engine.Provider.Reference.Native;

/// <summary>The calls a container backup's staging directory needs: who we are, and handing a directory to another user.</summary>
internal static partial class ProviderLibC
{
    [LibraryImport("libc", EntryPoint = "geteuid")]
    public static partial uint GetEffectiveUserId();

    [LibraryImport("libc", EntryPoint = "chown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Chown(string path, uint owner, uint group);

    [LibraryImport("libc", EntryPoint = "chmod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Chmod(string path, uint mode);

    /// <summary>Creates a directory only its owner may enter (0700), owned by <paramref name="owner"/>; throws naming the path.</summary>
    public static void CreatePrivateDirectory(string path, uint owner, uint group)
    {
        Directory.CreateDirectory(path);
        if (Chmod(path, 0b111_000_000) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"chmod 0700 {path}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
        }

        ChownOrThrow(path, owner, group);
    }

    /// <summary>Changes a path's owner and group; throws naming the path on failure.</summary>
    public static void ChownOrThrow(string path, uint owner, uint group)
    {
        if (Chown(path, owner, group) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"chown {owner}:{group} {path}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
        }
    }
}
