using System.Globalization;
using System.Text;
using Engine.Blocks;
using Engine.Blocks.Native;
using Microsoft.Win32.SafeHandles;

namespace Engine.Provider.Protocol;

/// <summary>
/// The Unix socket (SOCK_SEQPACKET) the Perl plugin passes descriptors on: each message is an fd token in ASCII
/// decimal with one descriptor attached by <c>SCM_RIGHTS</c>. The plugin sends a volume's descriptor before the
/// request line that names its token, so by the time a request is read its descriptors are queued and receiving never
/// has to wait: a token that is not there is a protocol error, not a reason to block.
/// </summary>
public sealed class DescriptorChannel : IDisposable
{
    /// <summary>Longest token message: a 64-bit decimal number.</summary>
    private const int MaxTokenBytes = 20;

    private readonly SafeFileHandle _socket;
    private readonly Dictionary<long, SafeFileHandle> _received = [];
    private readonly Lock _lock = new();

    private DescriptorChannel(SafeFileHandle socket) => _socket = socket;

    /// <summary>
    /// Takes over descriptor <paramref name="fd"/>, inherited from the parent (<c>--fd-channel N</c>), and marks it
    /// close-on-exec so that the tools the provider starts do not inherit it.
    /// </summary>
    /// <exception cref="IOException">The descriptor is not open.</exception>
    public static DescriptorChannel FromInherited(int fd)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(fd);
        var socket = new SafeFileHandle(fd, ownsHandle: true);
        if (!LibC.SetCloseOnExec(socket, true))
        {
            socket.SetHandleAsInvalid();
            throw new IOException($"--fd-channel {fd}: descriptor {fd} is not open");
        }

        return new DescriptorChannel(socket);
    }

    /// <summary>
    /// The descriptor sent with <paramref name="token"/>, now owned by the caller. Messages queued before it are kept
    /// for their own requests.
    /// </summary>
    /// <exception cref="ProtocolException">No such token was sent, or a message was malformed.</exception>
    internal SafeFileHandle Take(long token)
    {
        lock (_lock)
        {
            Span<byte> data = stackalloc byte[MaxTokenBytes + 1];
            while (!_received.ContainsKey(token))
            {
                var length = SocketRights.ReceiveNow(_socket, data, out var fd, out var truncated, out var errno);
                if (length < 0)
                {
                    if (errno == Errno.EINTR)
                    {
                        continue;
                    }

                    throw new ProtocolException(errno == Errno.EAGAIN
                        ? $"fd-token {token}: no descriptor was sent on the fd channel before the request"
                        : $"fd-token {token}: receiving on the fd channel failed (errno {errno})");
                }

                var handle = fd >= 0 ? new SafeFileHandle(fd, ownsHandle: true) : null;
                if (length == 0)
                {
                    handle?.Dispose();
                    throw new ProtocolException($"fd-token {token}: the fd channel was closed");
                }

                var text = data[..length];
                if (handle is null || truncated || length > MaxTokenBytes
                    || !long.TryParse(Encoding.ASCII.GetString(text), NumberStyles.None, CultureInfo.InvariantCulture, out var received))
                {
                    handle?.Dispose();
                    throw new ProtocolException($"fd channel: expected a decimal token with one descriptor, got {length} byte(s){(handle is null ? " without a descriptor" : "")}");
                }

                if (!_received.TryAdd(received, handle))
                {
                    handle.Dispose();
                    throw new ProtocolException($"fd channel: token {received} was sent twice");
                }
            }

            _received.Remove(token, out var taken);
            return taken!;
        }
    }

    /// <summary>Closes the socket and every descriptor no request claimed.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var handle in _received.Values)
            {
                handle.Dispose();
            }

            _received.Clear();
        }

        _socket.Dispose();
    }
}
