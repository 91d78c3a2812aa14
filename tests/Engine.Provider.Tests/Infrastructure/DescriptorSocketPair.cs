using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Engine.Provider.Protocol.Native;
using Microsoft.Win32.SafeHandles;

namespace Engine.Provider.Tests.Infrastructure;

/// <summary>
/// The Perl plugin's side of the fd channel: a SOCK_SEQPACKET socketpair whose child end the provider process
/// inherits (its number goes to <c>--fd-channel</c>) and whose parent end sends descriptors by SCM_RIGHTS.
/// </summary>
internal sealed partial class DescriptorSocketPair : IDisposable
{
    private const int AfUnix = 1;
    private const int SockSeqPacket = 5;
    private const int SockCloexec = 0x80000;

    private readonly SafeFileHandle _parent;
    private SafeFileHandle? _child;

    public unsafe DescriptorSocketPair()
    {
        var fds = stackalloc int[2];
        Assert.True(SocketPair(AfUnix, SockSeqPacket | SockCloexec, 0, fds) == 0, $"socketpair failed: errno {Marshal.GetLastPInvokeError()}");
        _parent = new SafeFileHandle(fds[0], ownsHandle: true);
        _child = new SafeFileHandle(fds[1], ownsHandle: true);

        // Only the child end is inherited by the process started next.
        Assert.True(SocketRights.SetCloseOnExec(_child, false), "clearing FD_CLOEXEC failed");
    }

    /// <summary>The descriptor number the provider process inherits.</summary>
    public int ChildDescriptor => (int)_child!.DangerousGetHandle();

    /// <summary>After the process started: the parent's copy of the child end goes.</summary>
    public void CloseChildEnd()
    {
        _child?.Dispose();
        _child = null;
    }

    /// <summary>Sends <paramref name="descriptor"/> under <paramref name="token"/>, as the plugin does before the request naming it.</summary>
    public void Send(long token, SafeFileHandle descriptor) =>
        Assert.True(SocketRights.Send(_parent, Encoding.ASCII.GetBytes(token.ToString(CultureInfo.InvariantCulture)), descriptor, out var errno), $"sendmsg failed: errno {errno}");

    public void Dispose()
    {
        _child?.Dispose();
        _parent.Dispose();
    }

    [LibraryImport("libc", EntryPoint = "socketpair", SetLastError = true)]
    private static unsafe partial int SocketPair(int domain, int type, int protocol, int* fds);
}
