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
