using System.Runtime.InteropServices;

namespace Engine.Blocks.Native;

/// <summary>
/// The socket calls .NET's <see cref="System.Net.Sockets.Socket"/> cannot make: sendfile(2) from an arbitrary offset
/// of an open handle, gather lists without an async engine round trip per operation, and SCM_RIGHTS descriptors. The
/// NBD connection threads make blocking calls on blocking descriptors, the cheapest path per byte; they pass raw
/// numbers because their channel holds a reference on the socket handle for its whole life. Layouts are Linux's on
/// 64-bit targets (<c>struct msghdr</c> 56 bytes, <c>struct cmsghdr</c> a 16-byte header before the data).
/// </summary>
internal static unsafe partial class LibC
{
    public const int AF_UNIX = 1;
    public const int SOCK_STREAM = 1;
    public const int SOCK_SEQPACKET = 5;
    public const int SOCK_CLOEXEC = 0x80000;

    public const int SOL_SOCKET = 1;
    public const int SO_PEERCRED = 17;
    public const int SCM_RIGHTS = 1;

    public const int MSG_CTRUNC = 0x08;
    public const int MSG_DONTWAIT = 0x40;
    public const int MSG_NOSIGNAL = 0x4000;
    public const int MSG_MORE = 0x8000;
    public const int MSG_CMSG_CLOEXEC = 0x40000000;

    public const int SHUT_RD = 0;
    public const int SHUT_RDWR = 2;

    /// <summary><c>struct iovec</c>: one piece of a gather list.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public void* Base;
        public nuint Length;
    }

    /// <summary><c>struct msghdr</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct MessageHeader
    {
        public void* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    /// <summary><c>struct cmsghdr</c>, the header of one ancillary message; its data follows.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct ControlHeader
    {
        public nuint Length;
        public int Level;
        public int Type;
    }

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    public static partial nint Recv(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    public static partial nint Send(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "sendmsg", SetLastError = true)]
    public static partial nint SendMsg(int fd, MessageHeader* message, int flags);

    [LibraryImport("libc", EntryPoint = "recvmsg", SetLastError = true)]
    public static partial nint RecvMsg(SafeHandle socket, MessageHeader* message, int flags);

    [LibraryImport("libc", EntryPoint = "sendfile64", SetLastError = true)]
    public static partial nint SendFile(int outFd, int inFd, long* offset, nuint count);

    [LibraryImport("libc", EntryPoint = "shutdown", SetLastError = true)]
    public static partial int ShutdownSocket(int fd, int how);

    [LibraryImport("libc", EntryPoint = "socketpair", SetLastError = true)]
    public static partial int SocketPair(int domain, int type, int protocol, int* fds);

    /// <summary>recv(2), retried on EINTR. Returns bytes read, 0 at end of stream, or -errno.</summary>
    public static nint Receive(int fd, Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            while (true)
            {
                var n = Recv(fd, p, (nuint)buffer.Length, 0);
                if (n >= 0)
                {
                    return n;
                }

                var errno = LastErrno;
                if (errno != Errno.EINTR)
                {
                    return -errno;
                }
            }
        }
    }

    /// <summary>send(2) of the whole span. Returns 0 or -errno.</summary>
    public static int SendAll(int fd, ReadOnlySpan<byte> data, int flags = 0)
    {
        fixed (byte* p = data)
        {
            var done = 0;
            while (done < data.Length)
            {
                var n = Send(fd, p + done, (nuint)(data.Length - done), flags | MSG_NOSIGNAL);
                if (n < 0)
                {
                    var errno = LastErrno;
                    if (errno == Errno.EINTR)
                    {
                        continue;
                    }

                    return -errno;
                }

                done += (int)n;
            }

            return 0;
        }
    }

    /// <summary>sendmsg(2) of a gather list, looping over partial sends. Mutates the vector. Returns 0 or -errno.</summary>
    public static int SendVectors(int fd, Span<IoVec> vectors, int flags = 0)
    {
        fixed (IoVec* iov = vectors)
        {
            var first = 0;
            while (first < vectors.Length)
            {
                var message = new MessageHeader { Iov = iov + first, IovLength = (nuint)Math.Min(vectors.Length - first, 1024) };
                var n = SendMsg(fd, &message, flags | MSG_NOSIGNAL);
                if (n < 0)
                {
                    var errno = LastErrno;
                    if (errno == Errno.EINTR)
                    {
                        continue;
                    }

                    return -errno;
                }

                // Skip what was sent: whole vectors, then part of one.
                var sent = (nuint)n;
                while (first < vectors.Length && sent >= iov[first].Length)
                {
                    sent -= iov[first].Length;
                    first++;
                }

                if (first < vectors.Length && sent > 0)
                {
                    iov[first].Base = (byte*)iov[first].Base + sent;
                    iov[first].Length -= sent;
                }
            }

            return 0;
        }
    }

    /// <summary>
    /// sendfile(2) of <paramref name="count"/> bytes from <paramref name="fileFd"/> at <paramref name="offset"/>.
    /// Returns 0, -errno, or <c>int.MinValue</c> when the file ended early (it shrank under us).
    /// </summary>
    public static int SendFileAll(int socketFd, int fileFd, long offset, long count)
    {
        while (count > 0)
        {
            var n = SendFile(socketFd, fileFd, &offset, (nuint)Math.Min(count, 1L << 30));
            if (n < 0)
            {
                var errno = LastErrno;
                if (errno == Errno.EINTR)
                {
                    continue;
                }

                return -errno;
            }

            if (n == 0)
            {
                return int.MinValue;
            }

            count -= n;
        }

        return 0;
    }

    /// <summary><c>struct ucred</c>: the process at the other end of a Unix socket, as the kernel recorded it at connect.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct PeerCredentials
    {
        public int Pid;
        public uint Uid;
        public uint Gid;
    }

    [LibraryImport("libc", EntryPoint = "getsockopt", SetLastError = true)]
    public static partial int GetSockOpt(SafeHandle socket, int level, int name, void* value, uint* length);

    /// <summary>getsockopt(SO_PEERCRED) on a connected Unix socket. Returns 0 or -errno.</summary>
    public static int GetPeerCredentials(SafeHandle socket, out PeerCredentials credentials)
    {
        PeerCredentials value;
        var length = (uint)sizeof(PeerCredentials);
        if (GetSockOpt(socket, SOL_SOCKET, SO_PEERCRED, &value, &length) != 0)
        {
            credentials = default;
            return -LastErrno;
        }

        credentials = value;
        return 0;
    }

    /// <summary>
    /// Sets O_NONBLOCK again on a socket a connection thread made blocking, before .NET's asynchronous socket engine
    /// (a TLS stream) takes it over: that engine waits in epoll and expects EAGAIN, not a receive that blocks a pool
    /// thread. Returns 0 or -errno.
    /// </summary>
    public static int MakeNonBlocking(SafeHandle socket)
    {
        var flags = Fcntl(socket, F_GETFL, 0);
        if (flags < 0)
        {
            return -LastErrno;
        }

        return (flags & O_NONBLOCK) != 0 || Fcntl(socket, F_SETFL, flags | O_NONBLOCK) == 0 ? 0 : -LastErrno;
    }

    /// <summary>shutdown(2); errors are ignored because the peer may already be gone.</summary>
    public static void Shutdown(int fd, int how) => _ = ShutdownSocket(fd, how);
}
