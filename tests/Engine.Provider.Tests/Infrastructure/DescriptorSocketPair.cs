using System.Globalization;
using System.Text;
using Engine.Blocks.Native;
using Engine.Provider.Protocol;
using Microsoft.Win32.SafeHandles;

namespace Engine.Provider.Tests.Infrastructure;

/// <summary>
/// The Perl plugin's side of the fd channel: a SOCK_SEQPACKET socketpair whose child end the provider process
/// inherits (its number goes to <c>--fd-channel</c>) and whose parent end sends descriptors by SCM_RIGHTS.
/// </summary>
internal sealed class DescriptorSocketPair : IDisposable
{
    private readonly SafeFileHandle _parent;
    private SafeFileHandle? _child;

    public unsafe DescriptorSocketPair()
    {
        var fds = stackalloc int[2];
        Assert.True(LibC.SocketPair(LibC.AF_UNIX, LibC.SOCK_SEQPACKET | LibC.SOCK_CLOEXEC, 0, fds) == 0, $"socketpair failed: errno {LibC.LastErrno}");
        _parent = new SafeFileHandle(fds[0], ownsHandle: true);
        _child = new SafeFileHandle(fds[1], ownsHandle: true);

        // Only the child end is inherited by the process started next.
        Assert.True(LibC.SetCloseOnExec(_child, false), "clearing FD_CLOEXEC failed");
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
}
