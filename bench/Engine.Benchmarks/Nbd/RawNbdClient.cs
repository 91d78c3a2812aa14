using System.Buffers.Binary;
using System.Net.Sockets;
using Engine.Nbd.Protocol;

namespace Engine.Benchmarks.Nbd;

/// <summary>
/// The thinnest client that can drive the server: blocking calls over preallocated buffers, no allocation per
/// request, so what a benchmark counts is the server's. Negotiates structured replies (as qemu and nbdcopy do) and
/// then NBD_OPT_EXPORT_NAME for the default export.
/// </summary>
internal sealed class RawNbdClient : IDisposable
{
    private readonly Socket _socket;
    private readonly byte[] _header = new byte[NbdWire.ExtendedReplyHeaderLength];
    private ulong _cookie;

    public RawNbdClient(string socketPath)
    {
        _socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _socket.Connect(new UnixDomainSocketEndPoint(socketPath));
        Handshake();
    }

    public long ExportSize { get; private set; }

    /// <summary>Sends one READ and receives its structured reply chunks into <paramref name="destination"/>.</summary>
    public void Read(long offset, Span<byte> destination)
    {
        Span<byte> request = stackalloc byte[NbdWire.RequestHeaderLength];
        BinaryPrimitives.WriteUInt32BigEndian(request, NbdMagic.Request);
        BinaryPrimitives.WriteUInt16BigEndian(request[4..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(request[6..], (ushort)NbdCommand.Read);
        BinaryPrimitives.WriteUInt64BigEndian(request[8..], ++_cookie);
        BinaryPrimitives.WriteUInt64BigEndian(request[16..], (ulong)offset);
        BinaryPrimitives.WriteUInt32BigEndian(request[24..], (uint)destination.Length);
        SendAll(request);

        while (true)
        {
            var chunk = _header.AsSpan(0, NbdWire.StructuredReplyHeaderLength);
            ReceiveAll(chunk);
            var flags = (ReplyFlags)BinaryPrimitives.ReadUInt16BigEndian(chunk[4..]);
            var type = (NbdReplyType)BinaryPrimitives.ReadUInt16BigEndian(chunk[6..]);
            var length = (int)BinaryPrimitives.ReadUInt32BigEndian(chunk[16..]);
            if (BinaryPrimitives.ReadUInt32BigEndian(chunk) != NbdMagic.StructuredReply || BinaryPrimitives.ReadUInt64BigEndian(chunk[8..]) != _cookie)
            {
                throw new InvalidOperationException("reply out of step");
            }

            if (type == NbdReplyType.OffsetData)
            {
                var at = _header.AsSpan(0, 8);
                ReceiveAll(at);
                var start = (int)(BinaryPrimitives.ReadInt64BigEndian(at) - offset);
                ReceiveAll(destination.Slice(start, length - 8));
            }
            else if (type == NbdReplyType.OffsetHole)
            {
                var hole = _header.AsSpan(0, 12);
                ReceiveAll(hole);
                var start = (int)(BinaryPrimitives.ReadInt64BigEndian(hole) - offset);
                destination.Slice(start, (int)BinaryPrimitives.ReadUInt32BigEndian(hole[8..])).Clear();
            }
            else if (type != NbdReplyType.None)
            {
                throw new InvalidOperationException($"READ failed: reply type {type}");
            }

            if ((flags & ReplyFlags.Done) != 0)
            {
                return;
            }
        }
    }

    public void Dispose() => _socket.Dispose();

    private void Handshake()
    {
        Span<byte> greeting = stackalloc byte[18];
        ReceiveAll(greeting);
        if (BinaryPrimitives.ReadUInt64BigEndian(greeting) != NbdMagic.InitPassword || BinaryPrimitives.ReadUInt64BigEndian(greeting[8..]) != NbdMagic.IHaveOpt)
        {
            throw new InvalidOperationException("not a newstyle NBD server");
        }

        Span<byte> clientFlags = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(clientFlags, (uint)(ClientFlags.FixedNewstyle | ClientFlags.NoZeroes));
        SendAll(clientFlags);

        SendOption(NbdOption.StructuredReply);
        Span<byte> reply = stackalloc byte[NbdWire.OptionReplyHeaderLength];
        ReceiveAll(reply);
        if ((NbdOptionReply)BinaryPrimitives.ReadUInt32BigEndian(reply[12..]) != NbdOptionReply.Ack)
        {
            throw new InvalidOperationException("server refused structured replies");
        }

        SendOption(NbdOption.ExportName);
        Span<byte> export = stackalloc byte[10];
        ReceiveAll(export);
        ExportSize = BinaryPrimitives.ReadInt64BigEndian(export);
    }

    private void SendOption(NbdOption option)
    {
        Span<byte> header = stackalloc byte[NbdWire.OptionHeaderLength];
        BinaryPrimitives.WriteUInt64BigEndian(header, NbdMagic.IHaveOpt);
        BinaryPrimitives.WriteUInt32BigEndian(header[8..], (uint)option);
        BinaryPrimitives.WriteUInt32BigEndian(header[12..], 0);
        SendAll(header);
    }

    private void SendAll(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            data = data[_socket.Send(data)..];
        }
    }

    private void ReceiveAll(Span<byte> data)
    {
        while (!data.IsEmpty)
        {
            var n = _socket.Receive(data);
            if (n == 0)
            {
                throw new InvalidOperationException("server closed the connection");
            }

            data = data[n..];
        }
    }
}
