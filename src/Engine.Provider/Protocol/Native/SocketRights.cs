using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Engine.Provider.Protocol.Native;

/// <summary>
/// sendmsg/recvmsg with one <c>SCM_RIGHTS</c> descriptor, which .NET's sockets cannot carry: how the Perl plugin
/// hands PVE's snapshot-access file handles to the provider process. Layouts are Linux's on 64-bit targets
/// (<c>struct msghdr</c> 56 bytes, <c>struct cmsghdr</c> a 16-byte header before the data).
/// </summary>
internal static unsafe partial class SocketRights
{
    public const int FdCloseOnExec = 1;
    public const int EAGAIN = 11;
    public const int EINTR = 4;

    private const int SolSocket = 1;
    private const int ScmRights = 1;
    private const int MsgDontWait = 0x40;
    private const int MsgCTrunc = 0x08;
    private const int MsgCmsgCloexec = 0x40000000;
    private const int FGetFd = 1;
    private const int FSetFd = 2;

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
            var iov = new IoVector { Base = buffer, Length = (nuint)data.Length };
            var header = new MessageHeader { Iov = &iov, IovLength = 1, Control = control, ControlLength = ControlSpace };
            var received = RecvMsg(socket, &header, MsgDontWait | MsgCmsgCloexec);
            if (received < 0)
            {
                errno = Marshal.GetLastPInvokeError();
                return -1;
            }

            truncated = (header.Flags & MsgCTrunc) != 0;
            var cmsg = (ControlHeader*)control;
            if (header.ControlLength >= ControlLength && cmsg->Level == SolSocket && cmsg->Type == ScmRights)
            {
                descriptor = *(int*)(control + sizeof(ControlHeader));
            }

            return (int)received;
        }
    }

    /// <summary>Sends <paramref name="data"/> with <paramref name="descriptor"/> attached; returns false with errno on failure.</summary>
    public static bool Send(SafeFileHandle socket, ReadOnlySpan<byte> data, SafeFileHandle descriptor, out int errno)
    {
        errno = 0;
        var added = false;
        descriptor.DangerousAddRef(ref added);
        try
        {
            var control = stackalloc byte[ControlSpace];
            new Span<byte>(control, ControlSpace).Clear();
            var cmsg = (ControlHeader*)control;
            cmsg->Length = ControlLength;
            cmsg->Level = SolSocket;
            cmsg->Type = ScmRights;
            *(int*)(control + sizeof(ControlHeader)) = (int)descriptor.DangerousGetHandle();
            fixed (byte* buffer = data)
            {
                var iov = new IoVector { Base = buffer, Length = (nuint)data.Length };
                var header = new MessageHeader { Iov = &iov, IovLength = 1, Control = control, ControlLength = ControlSpace };
                if (SendMsg(socket, &header, 0) < 0)
                {
                    errno = Marshal.GetLastPInvokeError();
                    return false;
                }

                return true;
            }
        }
        finally
        {
            if (added)
            {
                descriptor.DangerousRelease();
            }
        }
    }

    /// <summary>Sets or clears FD_CLOEXEC; an inherited channel must not leak into the tools the provider starts.</summary>
    public static bool SetCloseOnExec(SafeFileHandle descriptor, bool value)
    {
        var flags = FcntlInt(descriptor, FGetFd, 0);
        return flags >= 0 && FcntlInt(descriptor, FSetFd, value ? flags | FdCloseOnExec : flags & ~FdCloseOnExec) >= 0;
    }

    [LibraryImport("libc", EntryPoint = "recvmsg", SetLastError = true)]
    private static partial nint RecvMsg(SafeFileHandle socket, MessageHeader* message, int flags);

    [LibraryImport("libc", EntryPoint = "sendmsg", SetLastError = true)]
    private static partial nint SendMsg(SafeFileHandle socket, MessageHeader* message, int flags);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int FcntlInt(SafeFileHandle descriptor, int command, int argument);

    [StructLayout(LayoutKind.Sequential)]
    private struct IoVector
    {
        public byte* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct MessageHeader
    {
        public void* Name;
        public uint NameLength;
        public IoVector* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct ControlHeader
    {
        public nuint Length;
        public int Level;
        public int Type;
    }
}
