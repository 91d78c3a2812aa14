using System.Net.Sockets;
using Engine.Blocks;
using Engine.Blocks.Native;

namespace Engine.Nbd.Transport;

/// <summary>
/// Frees a Unix socket path for bind(2) without destroying anything of value: a socket left behind by a server that
/// died is removed, but a regular file (or anything that is not a socket) and a socket a live server answers on are
/// refused. Deleting whatever sits at the path would lose a user's file, or silently steal another server's clients.
/// </summary>
internal static class UnixSocketPath
{
    /// <exception cref="NbdListenException">The path holds something that must not be replaced.</exception>
    public static void RemoveStale(string path)
    {
        // .NET tells files, directories and links apart, but not a socket from a regular file.
        if (!LibC.TryLStat(path, LibC.STATX_TYPE, out var stat, out var errno))
        {
            if (errno == Errno.ENOENT)
            {
                return;
            }

            throw new NbdListenException(path, $"socket {path}: cannot look at it (errno {errno})");
        }

        if (stat.FileType != Statx.Socket)
        {
            throw new NbdListenException(path, $"socket {path}: the path exists and is not a socket; refusing to replace it");
        }

        if (Answers(path))
        {
            throw new NbdListenException(path, $"socket {path}: another server is listening on it");
        }

        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new NbdListenException(path, $"socket {path}: cannot remove the stale socket", ex);
        }
    }

    /// <summary>Whether something accepts connections on the socket; a full backlog counts as alive.</summary>
    private static bool Answers(string path)
    {
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified) { Blocking = false };
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
            return true;
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
        {
            return false;
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.WouldBlock or SocketError.TryAgain or SocketError.InProgress)
        {
            return true;
        }
        catch (SocketException ex)
        {
            throw new NbdListenException(path, $"socket {path}: cannot tell whether a server uses it: {SocketErrors.Describe(ex)}", ex);
        }
    }
}
