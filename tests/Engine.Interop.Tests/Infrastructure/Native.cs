using System.Runtime.InteropServices;

namespace Engine.Interop.Tests.Infrastructure;

internal static partial class Native
{
    public const int SeekData = 3;
    public const int SeekHole = 4;
    public const int Enxio = 6;
    public const int Sigint = 2;
    public const int Sigterm = 15;

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static partial long LSeek(int fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static partial int Kill(int pid, int signal);

    /// <summary>Sends a signal (SIGTERM/SIGINT: <see cref="System.Diagnostics.Process.Kill()"/> only sends SIGKILL).</summary>
    public static void Signal(int pid, int signal) =>
        Assert.True(Kill(pid, signal) == 0, $"kill({pid}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
}

/// <summary>open(2) with O_DIRECT, which .NET's file APIs cannot ask for: how PVE opens its snapshot-access files.</summary>
internal static partial class DirectOpen
{
    private const int ORdwr = 2;
    private const int OCloexec = 0x80000;

    private static int ODirect => RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x10000 : 0x4000;

    public static Microsoft.Win32.SafeHandles.SafeFileHandle ReadWrite(string path)
    {
        var fd = Open(path, ORdwr | OCloexec | ODirect, 0);
        Assert.True(fd >= 0, $"open({path}, O_RDWR|O_DIRECT) failed: errno {Marshal.GetLastPInvokeError()}");
        return new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true);
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static partial int Open(string path, int flags, int mode);
}
