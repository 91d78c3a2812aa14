using System.Diagnostics;
using System.Net.Sockets;
using Engine.Blocks.Devices;
using Engine.Nbd.Protocol;
using Engine.Nbd.Server;
using Engine.Nbd.Tests.Infrastructure;

namespace Engine.Nbd.Tests;

/// <summary>Graceful shutdown: stop accepting, finish what is in flight, reply, close.</summary>
public sealed class ShutdownTests
{
    private static (NbdTestServer Server, SlowReadDevice Device) StartSlow(TimeSpan delay)
    {
        var device = new SlowReadDevice(new MemoryBlockDevice(1 << 20), delay);
        return (NbdTestServer.Start(exports: new NbdExport("slow", device)), device);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task StopAsync_RepliesToInFlightRequests_ThenCloses(bool structured, bool extended)
    {
        // Long enough that a loaded machine cannot finish a read before StopAsync is called.
        var (ts, device) = StartSlow(TimeSpan.FromMilliseconds(1000));
        await using var _ = ts;
        var pattern = NbdData.Pattern(65536, 40);
        await device.WriteAsync(0, pattern);
        await using var client = await ts.OpenAsync("slow", structured, extended);

        var cookies = new List<ulong>();
        for (var i = 0; i < 4; i++)
        {
            cookies.Add(await client.SendRequestAsync(NbdCommand.Read, CommandFlags.None, (ulong)i * 16384, 16384));
        }

        // Let the server pick the requests up (each read then sleeps 1 s in the device).
        var wait = Stopwatch.StartNew();
        while (device.ReadsStarted < 4 && wait.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(5);
        }

        Assert.Equal(4, device.ReadsStarted);
        Assert.Equal(0, device.ReadsFinished);

        var sw = Stopwatch.StartNew();
        var stop = ts.Server.StopAsync(TimeSpan.FromSeconds(10));
        var seen = new HashSet<ulong>();
        for (var i = 0; i < 4; i++)
        {
            var reply = await client.ReadReplyAsync();
            Assert.True(reply.Error == 0, $"in-flight request failed during shutdown: {reply}");
            Assert.Contains(reply.Cookie, cookies);
            Assert.True(seen.Add(reply.Cookie));
            var index = cookies.IndexOf(reply.Cookie);
            Assert.Equal(pattern.AsSpan(index * 16384, 16384).ToArray(), reply.ReassembleRead((ulong)index * 16384, 16384));
        }

        Assert.True(await client.WaitForCloseAsync(TimeSpan.FromSeconds(5)), "connection still open after shutdown drained it");
        var finished = await Task.WhenAny(stop, Task.Delay(TimeSpan.FromSeconds(5)));
        Assert.True(finished == stop, "StopAsync did not return after the connection drained");
        await stop;
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(4), $"shutdown took {sw.Elapsed}");
        Assert.Equal(0, ts.Server.ActiveConnections);
        Assert.Equal(4, device.ReadsFinished);
    }

    [Fact]
    public async Task StopAsync_StopsAccepting()
    {
        await using var ts = NbdTestServer.Start();
        await ts.Server.StopAsync(TimeSpan.FromSeconds(5));
        var ex = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var c = await ts.ConnectAsync();
            // Connected to a stale socket file? Then the server must not talk.
            await c.ReadGreetingAsync();
        });
        Assert.True(ex is SocketException or EndOfStreamException, ex.ToString());
    }

    [Fact]
    public async Task StopAsync_ClosesIdleAndHandshakingConnections()
    {
        await using var ts = NbdTestServer.Start();
        await using var idle = await ts.OpenAsync();
        await using var handshaking = await ts.ConnectAsync();
        await handshaking.ReadGreetingAsync();
        await using var flagsSent = await ts.ConnectAsync();
        await flagsSent.StartAsync();
        Assert.Equal(3, ts.Server.ActiveConnections);

        var sw = Stopwatch.StartNew();
        await ts.Server.StopAsync(TimeSpan.FromSeconds(10)).WaitAsync(TimeSpan.FromSeconds(8));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(3), $"StopAsync took {sw.Elapsed} with only idle connections");
        Assert.True(await idle.WaitForCloseAsync(TimeSpan.FromSeconds(2)));
        Assert.True(await handshaking.WaitForCloseAsync(TimeSpan.FromSeconds(2)));
        Assert.True(await flagsSent.WaitForCloseAsync(TimeSpan.FromSeconds(2)));
        Assert.Equal(0, ts.Server.ActiveConnections);
    }

    [Fact]
    public async Task StopAsync_AbortsAtDeadline_WhenClientDoesNotRead()
    {
        await using var ts = NbdTestServer.Start(size: 64 << 20);
        await using var client = await ts.OpenAsync();
        // 64 reads of 1 MiB that we never read: the server's writer blocks on a full socket.
        var batch = new List<byte>();
        for (var i = 0; i < 64; i++)
        {
            batch.AddRange(RawNbdClient.CompactRequest(0, (ushort)NbdCommand.Read, (ulong)i, (ulong)i << 20, 1 << 20));
        }

        await client.SendAsync(batch.ToArray());
        await Task.Delay(200);
        var sw = Stopwatch.StartNew();
        await ts.Server.StopAsync(TimeSpan.FromMilliseconds(500)).WaitAsync(TimeSpan.FromSeconds(8));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(3), $"StopAsync took {sw.Elapsed} with a 500 ms deadline");
        Assert.Equal(0, ts.Server.ActiveConnections);
        Assert.True(await client.WaitForCloseAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task StopAsync_IsIdempotent_AndDisposeAfterStopWorks()
    {
        var ts = NbdTestServer.Start();
        await using var client = await ts.OpenAsync();
        var a = ts.Server.StopAsync(TimeSpan.FromSeconds(5));
        var b = ts.Server.StopAsync(TimeSpan.FromSeconds(5));
        await Task.WhenAll(a, b).WaitAsync(TimeSpan.FromSeconds(8));
        await ts.DisposeAsync();
        Assert.True(await client.WaitForCloseAsync(TimeSpan.FromSeconds(2)));
    }
}
