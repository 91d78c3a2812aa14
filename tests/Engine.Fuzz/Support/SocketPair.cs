using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Engine.Fuzz.Support;

/// <summary>
/// A connected pair of Unix stream sockets: the server under test gets one end, the fuzz input is written into the
/// other before the server runs (it fits in the socket buffer), and a drain thread swallows the replies so the
/// server never blocks on a full buffer. No listener, no timing.
/// </summary>
internal sealed partial class SocketPair : IDisposable
{
    private const int AfUnix = 1;
    private const int SockStream = 1;
    private const int SockCloexec = 0x80000;

    /// <summary>Client bytes beyond this are dropped: the whole input must fit in the socket buffer before the server reads.</summary>
    public const int MaxClientBytes = 64 << 10;

    private readonly Thread _drain;

    public SocketPair(ReadOnlySpan<byte> clientBytes)
    {
        clientBytes = clientBytes[..Math.Min(clientBytes.Length, MaxClientBytes)];
        Span<int> fds = stackalloc int[2];
        if (NativeSocketPair(AfUnix, SockStream | SockCloexec, 0, ref fds[0]) != 0)
        {
            throw new IOException($"socketpair failed: errno {Marshal.GetLastPInvokeError()}");
        }

        Server = new Socket(new SafeSocketHandle(fds[0], ownsHandle: true));
        Client = new Socket(new SafeSocketHandle(fds[1], ownsHandle: true));
        Client.Send(clientBytes);
        Client.Shutdown(SocketShutdown.Send);
        _drain = new Thread(Drain) { IsBackground = true, Name = "fuzz-drain" };
        _drain.Start();
    }

    /// <summary>The end the server under test owns (it disposes it).</summary>
    public Socket Server { get; }

    /// <summary>The end that sent the input and drains the replies.</summary>
    public Socket Client { get; }

    /// <summary>Bytes the server sent back.</summary>
    public long Received { get; private set; }

    /// <summary>Waits for the server's end to close (the drain sees end of stream), then closes the client's.</summary>
    public void Dispose()
    {
        Server.Dispose();
        _drain.Join();
        Client.Dispose();
    }

    private void Drain()
    {
        var buffer = new byte[64 << 10];
        try
        {
            int n;
            while ((n = Client.Receive(buffer)) > 0)
            {
                Received += n;
            }
        }
        catch (SocketException)
        {
            // The server reset the connection: it is gone either way.
        }
    }

    [LibraryImport("libc", EntryPoint = "socketpair", SetLastError = true)]
    private static partial int NativeSocketPair(int domain, int type, int protocol, ref int fds);
}
