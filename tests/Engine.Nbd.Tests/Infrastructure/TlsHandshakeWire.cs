using System.Buffers.Binary;
using System.Net.Sockets;
using Engine.Nbd.Protocol;
using Engine.Nbd.Transport.Tls;

namespace Engine.Nbd.Tests.Infrastructure;

/// <summary>
/// Just enough of the NBD newstyle handshake, written by hand, to put a TLS layer between real peers and Engine's
/// TLS code without Engine's server or client: the client side up to STARTTLS, then GO and one READ inside TLS; and a
/// one-connection server that answers STARTTLS, hands the socket to an <see cref="INbdTlsServer"/>, then serves
/// GO/INFO of a zero-filled read-only export and READs until DISC.
/// </summary>
internal static class TlsHandshakeWire
{
    private const ushort ServerFlags = (ushort)(HandshakeFlags.FixedNewstyle | HandshakeFlags.NoZeroes);

    /// <summary>Client: reads the greeting, sends STARTTLS and checks the ACK. The socket is then ready for the TLS handshake.</summary>
    public static async Task StartTlsAsync(Socket socket)
    {
        var greeting = new byte[18];
        await ReceiveExactlyAsync(socket, greeting);
        Assert.Equal(NbdMagic.InitPassword, BinaryPrimitives.ReadUInt64BigEndian(greeting));
        Assert.Equal(NbdMagic.IHaveOpt, BinaryPrimitives.ReadUInt64BigEndian(greeting.AsSpan(8)));
        var hello = new byte[4 + 16];
        BinaryPrimitives.WriteUInt32BigEndian(hello, (uint)(ClientFlags.FixedNewstyle | ClientFlags.NoZeroes));
        WriteOption(hello.AsSpan(4), NbdOption.StartTls, 0);
        await socket.SendAsync(hello);
        var reply = new byte[20];
        await ReceiveExactlyAsync(socket, reply);
        Assert.Equal(NbdMagic.OptionReply, BinaryPrimitives.ReadUInt64BigEndian(reply));
        Assert.Equal((uint)NbdOptionReply.Ack, BinaryPrimitives.ReadUInt32BigEndian(reply.AsSpan(12)));
    }

    /// <summary>Client, inside TLS: NBD_OPT_GO for the default export; returns its size.</summary>
    public static async Task<ulong> GoAsync(Stream tls)
    {
        var go = new byte[16 + 6];
        WriteOption(go, NbdOption.Go, 6);
        await tls.WriteAsync(go);
        ulong? size = null;
        while (true)
        {
            var header = new byte[20];
            await tls.ReadExactlyAsync(header);
            var type = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(12));
            var data = new byte[BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(16))];
            await tls.ReadExactlyAsync(data);
            Assert.False((type & 0x8000_0000) != 0, $"GO refused with 0x{type:x8}");
            if (type == (uint)NbdOptionReply.Info && BinaryPrimitives.ReadUInt16BigEndian(data) == (ushort)NbdInfo.Export)
            {
                size = BinaryPrimitives.ReadUInt64BigEndian(data.AsSpan(2));
            }

            if (type == (uint)NbdOptionReply.Ack)
            {
                return size ?? throw new InvalidDataException("GO acknowledged without NBD_INFO_EXPORT");
            }
        }
    }

    /// <summary>Client, in transmission: one READ with a simple reply.</summary>
    public static async Task<byte[]> ReadAsync(Stream tls, ulong offset, int length)
    {
        var request = new byte[28];
        WriteRequest(request, NbdCommand.Read, cookie: 7, offset, (uint)length);
        await tls.WriteAsync(request);
        var reply = new byte[16];
        await tls.ReadExactlyAsync(reply);
        Assert.Equal(NbdMagic.SimpleReply, BinaryPrimitives.ReadUInt32BigEndian(reply));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(reply.AsSpan(4)));
        Assert.Equal(7ul, BinaryPrimitives.ReadUInt64BigEndian(reply.AsSpan(8)));
        var data = new byte[length];
        await tls.ReadExactlyAsync(data);
        return data;
    }

    /// <summary>Client, in transmission: NBD_CMD_DISC.</summary>
    public static async Task DisconnectAsync(Stream tls)
    {
        var request = new byte[28];
        WriteRequest(request, NbdCommand.Disconnect, cookie: 8, 0, 0);
        await tls.WriteAsync(request);
    }

    /// <summary>
    /// Server, one connection: greeting; every option but STARTTLS gets ERR_TLS_REQD; after STARTTLS's ACK the TLS
    /// handshake (whose exception the task ends with); then INFO/GO of a zero-filled read-only export of
    /// <paramref name="size"/> bytes, READs, until DISC or end of stream. Returns the TLS session's peer.
    /// </summary>
    public static async Task<TlsPeer> ServeOneAsync(Socket socket, INbdTlsServer tls, ulong size, CancellationToken cancellationToken)
    {
        var greeting = new byte[18];
        BinaryPrimitives.WriteUInt64BigEndian(greeting, NbdMagic.InitPassword);
        BinaryPrimitives.WriteUInt64BigEndian(greeting.AsSpan(8), NbdMagic.IHaveOpt);
        BinaryPrimitives.WriteUInt16BigEndian(greeting.AsSpan(16), ServerFlags);
        await socket.SendAsync(greeting, cancellationToken);
        await ReceiveExactlyAsync(socket, new byte[4]);
        while (true)
        {
            var (option, _) = await ReadOptionAsync(b => ReceiveExactlyAsync(socket, b));
            var ok = option == (uint)NbdOption.StartTls;
            await socket.SendAsync(OptionReply(option, ok ? NbdOptionReply.Ack : NbdOptionReply.ErrTlsRequired, []), cancellationToken);
            if (ok)
            {
                break;
            }
        }

        await using var session = await tls.AcceptAsync(socket, cancellationToken);
        var stream = session.Stream;
        while (true)
        {
            var (option, _) = await ReadOptionAsync(b => stream.ReadExactlyAsync(b, cancellationToken).AsTask());
            if (option is (uint)NbdOption.Go or (uint)NbdOption.Info)
            {
                var info = new byte[12];
                BinaryPrimitives.WriteUInt64BigEndian(info.AsSpan(2), size);
                BinaryPrimitives.WriteUInt16BigEndian(info.AsSpan(10), (ushort)(TransmissionFlags.HasFlags | TransmissionFlags.ReadOnly));
                await stream.WriteAsync(OptionReply(option, NbdOptionReply.Info, info), cancellationToken);
                await stream.WriteAsync(OptionReply(option, NbdOptionReply.Ack, []), cancellationToken);
                if (option == (uint)NbdOption.Go)
                {
                    break;
                }
            }
            else if (option == (uint)NbdOption.Abort)
            {
                await stream.WriteAsync(OptionReply(option, NbdOptionReply.Ack, []), cancellationToken);
                return session.Peer;
            }
            else
            {
                await stream.WriteAsync(OptionReply(option, NbdOptionReply.ErrUnsupported, []), cancellationToken);
            }
        }

        var request = new byte[28];
        while (await stream.ReadAtLeastAsync(request, request.Length, throwOnEndOfStream: false, cancellationToken) == request.Length)
        {
            var type = BinaryPrimitives.ReadUInt16BigEndian(request.AsSpan(6));
            if (type != (ushort)NbdCommand.Read)
            {
                break;
            }

            var reply = new byte[16 + BinaryPrimitives.ReadUInt32BigEndian(request.AsSpan(24))];
            BinaryPrimitives.WriteUInt32BigEndian(reply, NbdMagic.SimpleReply);
            request.AsSpan(8, 8).CopyTo(reply.AsSpan(8));
            await stream.WriteAsync(reply, cancellationToken);
        }

        return session.Peer;
    }

    private static async Task<(uint Option, byte[] Data)> ReadOptionAsync(Func<byte[], Task> readExactly)
    {
        var header = new byte[16];
        await readExactly(header);
        Assert.Equal(NbdMagic.IHaveOpt, BinaryPrimitives.ReadUInt64BigEndian(header));
        var length = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(12));
        Assert.True(length < 65536, $"option of {length} bytes");
        var data = new byte[length];
        await readExactly(data);
        return (BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(8)), data);
    }

    private static byte[] OptionReply(uint option, NbdOptionReply type, byte[] data)
    {
        var reply = new byte[20 + data.Length];
        BinaryPrimitives.WriteUInt64BigEndian(reply, NbdMagic.OptionReply);
        BinaryPrimitives.WriteUInt32BigEndian(reply.AsSpan(8), option);
        BinaryPrimitives.WriteUInt32BigEndian(reply.AsSpan(12), (uint)type);
        BinaryPrimitives.WriteUInt32BigEndian(reply.AsSpan(16), (uint)data.Length);
        data.CopyTo(reply.AsSpan(20));
        return reply;
    }

    private static void WriteOption(Span<byte> into, NbdOption option, uint length)
    {
        BinaryPrimitives.WriteUInt64BigEndian(into, NbdMagic.IHaveOpt);
        BinaryPrimitives.WriteUInt32BigEndian(into[8..], (uint)option);
        BinaryPrimitives.WriteUInt32BigEndian(into[12..], length);
    }

    private static void WriteRequest(Span<byte> into, NbdCommand command, ulong cookie, ulong offset, uint length)
    {
        BinaryPrimitives.WriteUInt32BigEndian(into, NbdMagic.Request);
        BinaryPrimitives.WriteUInt16BigEndian(into[6..], (ushort)command);
        BinaryPrimitives.WriteUInt64BigEndian(into[8..], cookie);
        BinaryPrimitives.WriteUInt64BigEndian(into[16..], offset);
        BinaryPrimitives.WriteUInt32BigEndian(into[24..], length);
    }

    private static async Task ReceiveExactlyAsync(Socket socket, byte[] buffer)
    {
        var done = 0;
        while (done < buffer.Length)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(done));
            if (n == 0)
            {
                throw new EndOfStreamException($"the peer closed after {done} of {buffer.Length} bytes");
            }

            done += n;
        }
    }
}
