using Engine.Blocks.Native;
using Microsoft.Win32.SafeHandles;

namespace Engine.Provider.Protocol;

/// <summary>
/// sendmsg/recvmsg with one <c>SCM_RIGHTS</c> descriptor, which .NET's sockets cannot carry: how the Perl plugin
/// hands PVE's snapshot-access file handles to the provider process. The message layouts are
/// <see cref="LibC.MessageHeader"/> and <see cref="LibC.ControlHeader"/> (Linux, 64-bit).
/// </summary>
internal static unsafe class SocketRights
{
    // CMSG_SPACE(sizeof(int)) on 64-bit Linux: 16-byte header + 4 bytes of data, aligned to 8.
    private const int ControlSpace = 24;
    private const int ControlLength = 20;

    /// <summary>
    /// Receives one message without blocking. Returns its length (0 at end of stream), or -1 with
    /// <paramref name="errno"/> set (EAGAIN: nothing queued). The descriptor it carried, if any, arrives close-on-exec
    /// in <paramref name="descriptor"/> (-1 when none); <paramref name="truncated"/> says descriptors were dropped.
    /// </summary>
    public static int ReceiveNow(SafeFileHandle socket, Span<byte> data, out int descriptor, out bool truncated, out int errno)
    {
        descriptor = -1;
        truncated = false;
        errno = 0;
        var control = stackalloc byte[ControlSpace];
        new Span<byte>(control, ControlSpace).Clear();
        fixed (byte* buffer = data)
        {
            var iov = new LibC.IoVec { Base = buffer, Length = (nuint)data.Length };
            var header = new LibC.MessageHeader { Iov = &iov, IovLength = 1, Control = control, ControlLength = ControlSpace };
            var received = LibC.RecvMsg(socket, &header, LibC.MSG_DONTWAIT | LibC.MSG_CMSG_CLOEXEC);
            if (received < 0)
            {
                errno = LibC.LastErrno;
                return -1;
            }

            truncated = (header.Flags & LibC.MSG_CTRUNC) != 0;
            var cmsg = (LibC.ControlHeader*)control;
            if (header.ControlLength >= ControlLength && cmsg->Level == LibC.SOL_SOCKET && cmsg->Type == LibC.SCM_RIGHTS)
            {
                descriptor = *(int*)(control + sizeof(LibC.ControlHeader));
            }

            return (int)received;
        }
    }

    /// <summary>Sends <paramref name="data"/> with <paramref name="descriptor"/> attached; returns false with errno on failure.</summary>
    public static bool Send(SafeFileHandle socket, ReadOnlySpan<byte> data, SafeFileHandle descriptor, out int errno)
    {
        errno = 0;
        var socketAdded = false;
        var descriptorAdded = false;

        // Both numbers go to the kernel as plain ints: hold a reference on each so neither can be closed and reused
        // while the call runs.
        socket.DangerousAddRef(ref socketAdded);
        descriptor.DangerousAddRef(ref descriptorAdded);
        try
        {
            var control = stackalloc byte[ControlSpace];
            new Span<byte>(control, ControlSpace).Clear();
            var cmsg = (LibC.ControlHeader*)control;
            cmsg->Length = ControlLength;
            cmsg->Level = LibC.SOL_SOCKET;
            cmsg->Type = LibC.SCM_RIGHTS;
            *(int*)(control + sizeof(LibC.ControlHeader)) = (int)descriptor.DangerousGetHandle();
            fixed (byte* buffer = data)
            {
                var iov = new LibC.IoVec { Base = buffer, Length = (nuint)data.Length };
                var header = new LibC.MessageHeader { Iov = &iov, IovLength = 1, Control = control, ControlLength = ControlSpace };
                if (LibC.SendMsg((int)socket.DangerousGetHandle(), &header, 0) < 0)
                {
                    errno = LibC.LastErrno;
                    return false;
                }

                return true;
            }
        }
        finally
        {
            if (descriptorAdded)
            {
                descriptor.DangerousRelease();
            }

            if (socketAdded)
            {
                socket.DangerousRelease();
            }
        }
    }
}
