using System.Runtime.InteropServices;

namespace Engine.Nbd.Native;

/// <summary>
/// The socket syscalls the server issues directly. .NET's Socket cannot sendfile(2) from an arbitrary offset of an
/// open handle, and its async engine adds an epoll round trip and a thread-pool hop per operation; the connection
/// threads instead make blocking calls on a blocking descriptor, which is the cheapest path per byte.
/// </summary>
internal static unsafe partial class SocketCalls
{
    public const int MsgNoSignal = 0x4000;
    public const int MsgMore = 0x8000;
    public const int ShutRead = 0;
    public const int ShutReadWrite = 2;
    private const int FGetFl = 3;
    private const int FSetFl = 4;
    private const int ONonBlock = 0x800;

    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public void* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct MsgHdr
    {
        public void* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    private static partial nint Recv(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    private static partial nint Send(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "sendmsg", SetLastError = true)]
    private static partial nint SendMsg(int fd, MsgHdr* message, int flags);

    [LibraryImport("libc", EntryPoint = "sendfile64", SetLastError = true)]
    private static partial nint SendFile(int outFd, int inFd, long* offset, nuint count);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command, int argument);

    [LibraryImport("libc", EntryPoint = "shutdown", SetLastError = true)]
    private static partial int ShutdownNative(int fd, int how);

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

                var errno = Marshal.GetLastPInvokeError();
                if (errno != Blocks.Errno.EINTR)
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
                var n = Send(fd, p + done, (nuint)(data.Length - done), flags | MsgNoSignal);
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == Blocks.Errno.EINTR)
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
                var message = new MsgHdr { Iov = iov + first, IovLength = (nuint)Math.Min(vectors.Length - first, 1024) };
                var n = SendMsg(fd, &message, flags | MsgNoSignal);
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == Blocks.Errno.EINTR)
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
    /// Returns 0, -errno, or -EIO-like <c>int.MinValue</c> when the file ended early (it shrank under us).
    /// </summary>
    public static int SendFileAll(int socketFd, int fileFd, long offset, long count)
    {
        while (count > 0)
        {
            var n = SendFile(socketFd, fileFd, &offset, (nuint)Math.Min(count, 1L << 30));
            if (n < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno == Blocks.Errno.EINTR)
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

    /// <summary>Clears O_NONBLOCK so that the connection threads can block in recv/send.</summary>
    public static int MakeBlocking(int fd)
    {
        var flags = Fcntl(fd, FGetFl, 0);
        if (flags < 0)
        {
            return -Marshal.GetLastPInvokeError();
        }

        return (flags & ONonBlock) == 0 || Fcntl(fd, FSetFl, flags & ~ONonBlock) == 0 ? 0 : -Marshal.GetLastPInvokeError();
    }

    /// <summary>shutdown(2); errors are ignored because the peer may already be gone.</summary>
    public static void Shutdown(int fd, int how) => _ = ShutdownNative(fd, how);
}
