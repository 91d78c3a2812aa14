using System.Net.Sockets;
using Engine.Blocks.Native;

namespace Engine.Fuzz.Support;

/// <summary>
/// A connected pair of Unix stream sockets: the code under test (a server, or a client) gets one end, the fuzz input
/// is written into the other before that code runs (it fits in the socket buffer), and a drain thread swallows what
/// the code sends back so it never blocks on a full buffer. No listener, no timing.
/// </summary>
internal sealed class SocketPair : IDisposable
{
    /// <summary>Peer bytes beyond this are dropped: the whole input must fit in the socket buffer before the code under test reads.</summary>
    public const int MaxPeerBytes = 64 << 10;

    private readonly Thread _drain;

    public unsafe SocketPair(ReadOnlySpan<byte> peerBytes)
    {
        peerBytes = peerBytes[..Math.Min(peerBytes.Length, MaxPeerBytes)];
        var fds = stackalloc int[2];
        if (LibC.SocketPair(LibC.AF_UNIX, LibC.SOCK_STREAM | LibC.SOCK_CLOEXEC, 0, fds) != 0)
        {
            throw new IOException($"socketpair failed: errno {LibC.LastErrno}");
        }

        Local = new Socket(new SafeSocketHandle(fds[0], ownsHandle: true));
        Peer = new Socket(new SafeSocketHandle(fds[1], ownsHandle: true));
        Peer.Send(peerBytes);
        Peer.Shutdown(SocketShutdown.Send);
        _drain = new Thread(Drain) { IsBackground = true, Name = "fuzz-drain" };
        _drain.Start();
    }

    /// <summary>The end the code under test owns (its channel disposes it).</summary>
    public Socket Local { get; }

    /// <summary>The end that sent the input and drains the answers.</summary>
    public Socket Peer { get; }

    /// <summary>Bytes the code under test sent.</summary>
    public long Received { get; private set; }

    /// <summary>Waits for the local end to close (the drain sees end of stream), then closes the peer's.</summary>
    public void Dispose()
    {
        Local.Dispose();
        _drain.Join();
        Peer.Dispose();
    }

    private void Drain()
    {
        var buffer = new byte[64 << 10];
        try
        {
            int n;
            while ((n = Peer.Receive(buffer)) > 0)
            {
                Received += n;
            }
        }
        catch (SocketException)
        {
            // The code under test reset the connection: it is gone either way.
        }
    }
}
