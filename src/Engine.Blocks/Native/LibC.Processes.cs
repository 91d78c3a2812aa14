using System.Runtime.InteropServices;

namespace Engine.Blocks.Native;

/// <summary>Signals, which <see cref="System.Diagnostics.Process.Kill()"/> limits to SIGKILL.</summary>
internal static partial class LibC
{
    public const int SIGINT = 2;
    public const int SIGTERM = 15;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);
}
