using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Engine.Tests.Shared;

/// <summary>open(2) with O_DIRECT, which .NET's file APIs cannot ask for: how PVE opens its snapshot-access files.</summary>
internal static partial class DirectOpen
{
    private const int OReadOnly = 0;
    private const int OReadWrite = 2;
    private const int OCloseOnExec = 0x80000;

    private static int ODirect => RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x10000 : 0x4000;

    public static SafeFileHandle ReadWrite(string path) => OpenDirect(path, OReadWrite, "O_RDWR|O_DIRECT");

    public static SafeFileHandle ReadOnly(string path) => OpenDirect(path, OReadOnly, "O_RDONLY|O_DIRECT");

    /// <summary>Whether the descriptor has O_DIRECT, from /proc/self/fdinfo.</summary>
    public static bool IsDirect(SafeFileHandle handle)
    {
        foreach (var line in File.ReadLines($"/proc/self/fdinfo/{handle.DangerousGetHandle()}"))
        {
            if (line.StartsWith("flags:", StringComparison.Ordinal))
            {
                return (Convert.ToInt32(line["flags:".Length..].Trim(), 8) & ODirect) != 0;
            }
        }

        return false;
    }

    private static SafeFileHandle OpenDirect(string path, int access, string what)
    {
        var fd = Open(path, access | OCloseOnExec | ODirect, 0);
        Assert.True(fd >= 0, $"open({path}, {what}) failed: errno {Marshal.GetLastPInvokeError()}");
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static partial int Open(string path, int flags, int mode);
}
