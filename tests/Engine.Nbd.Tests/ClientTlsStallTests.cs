using System.Buffers.Binary;
using System.Net.Sockets;
using Engine.Nbd.Client;

namespace Engine.Nbd.Tests;

/// <summary>A server that acknowledges STARTTLS and then never speaks TLS must not hang the client.</summary>
public sealed class ClientTlsStallTests
{
    [Fact]
    public async Task ServerSilentAfterStartTlsAck_FailsAtTheHandshakeTimeout()
    {
        var dir = Directory.CreateTempSubdirectory("nbd-stall-");
        try
        {
            var path = Path.Combine(dir.FullName, "s.sock");
            using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            listener.Bind(new UnixDomainSocketEndPoint(path));
            listener.Listen(1);
            var server = Task.Run(async () =>
            {
                using var peer = await listener.AcceptAsync();
                var greeting = new byte[18];
                "NBDMAGIC"u8.CopyTo(greeting);
                "IHAVEOPT"u8.CopyTo(greeting.AsSpan(8));
                BinaryPrimitives.WriteUInt16BigEndian(greeting.AsSpan(16), 3);
                await peer.SendAsync(greeting, SocketFlags.None);
                await ReceiveExactAsync(peer, 4 + 16);
                var ack = new byte[20];
                BinaryPrimitives.WriteUInt64BigEndian(ack, 0x0003e889045565a9UL);
                BinaryPrimitives.WriteUInt32BigEndian(ack.AsSpan(8), 5);
                BinaryPrimitives.WriteUInt32BigEndian(ack.AsSpan(12), 1);
                await peer.SendAsync(ack, SocketFlags.None);

                // Silent: the ClientHello is read and never answered, and the connection stays open until the client
                // gives up and closes it.
                var sink = new byte[4096];
                while (await peer.ReceiveAsync(sink, SocketFlags.None) > 0)
                {
                }
            });

            var options = new NbdClientOptions { HandshakeTimeout = TimeSpan.FromSeconds(2) };
            var connect = NbdClient.ConnectAsync($"nbds+unix:///?socket={path}&tls-verify-peer=0", options);
            var finished = await Task.WhenAny(connect, Task.Delay(TimeSpan.FromSeconds(30)));
            Assert.True(finished == connect, "the client still waits for the TLS handshake 30 s after its 2 s handshake timeout");
            var error = await Assert.ThrowsAnyAsync<NbdException>(() => connect);
            Assert.Contains("TLS handshake failed: the server did not answer within 2 s", error.Message, StringComparison.Ordinal);
            await server.WaitAsync(TimeSpan.FromSeconds(10));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static async Task ReceiveExactAsync(Socket socket, int count)
    {
        var buffer = new byte[count];
        for (var done = 0; done < count;)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(done), SocketFlags.None);
            Assert.True(n > 0, "client closed during the handshake");
            done += n;
        }
    }
}
