using Engine.Blocks.Native;

namespace Engine.Interop.Tests.Infrastructure;

/// <summary>Sends SIGTERM and SIGINT, which <see cref="System.Diagnostics.Process.Kill()"/> cannot (it only sends SIGKILL).</summary>
internal static class Signals
{
    public const int Interrupt = LibC.SIGINT;
    public const int Terminate = LibC.SIGTERM;

    public static void Send(int pid, int signal) =>
        Assert.True(LibC.Kill(pid, signal) == 0, $"kill({pid}, {signal}) failed: errno {LibC.LastErrno}");
}
