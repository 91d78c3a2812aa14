using System.Diagnostics;
using System.Net.Sockets;
using Engine.Nbd.Protocol;
using Engine.Nbd.Server;
using Engine.Nbd.Tests.Infrastructure;

namespace Engine.Nbd.Tests;

/// <summary>
/// Slow and idle clients cannot pin the server (the CVE-2024-7409 class): one clock covers the whole handshake,
/// including partial reads inside an option, and connections over the cap are closed at accept.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class ConnectionLimitTests
{
    [Fact]
    public async Task SlowLoris_TricklingBytesInsideAnOption_IsDroppedAtTheHandshakeDeadline()
    {
        await using var ts = NbdTestServer.Start(options: new NbdServerOptions { HandshakeTimeout = TimeSpan.FromSeconds(1) });
        await using var client = await ts.ConnectAsync();
        var clock = Stopwatch.StartNew();
        await client.StartAsync();

        // A LIST option that claims 1000 bytes of data, sent one byte every 200 ms: every receive gets a byte well
        // within the timeout, so only a clock over the whole handshake ends it.
        var option = RawNbdClient.OptionBytes((uint)NbdOption.List, new byte[1000]);
        using var stop = new CancellationTokenSource();
        var trickle = Task.Run(async () =>
        {
            var sent = 0;
            try
            {
                for (; sent < option.Length && !stop.IsCancellationRequested; sent++)
                {
                    await client.Socket.SendAsync(option.AsMemory(sent, 1), SocketFlags.None, stop.Token);
                    await Task.Delay(200, stop.Token);
                }
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException)
            {
                // The server hung up, or the test is over.
            }

            return sent;
        });

        var closed = await client.WaitForCloseAsync(TimeSpan.FromSeconds(6));
        var elapsed = clock.Elapsed;
        await stop.CancelAsync();
        var sent = await trickle;
        Assert.True(closed, $"a client trickling a byte every 200 ms was still connected after {elapsed} with a 1 s handshake timeout ({sent} bytes sent)");
        Assert.True(elapsed >= TimeSpan.FromSeconds(0.9), $"dropped after {elapsed}, before the 1 s deadline");
        Assert.True(elapsed < TimeSpan.FromSeconds(3), $"dropped only after {elapsed} with a 1 s handshake timeout");
        Assert.Equal(0, await ts.WaitForConnectionsAsync(0, TimeSpan.FromSeconds(3)));
    }

    [Fact]
    public async Task SlowReader_ThatNeverReadsReplies_IsDroppedAtTheHandshakeDeadline()
    {
        // A long description makes each LIST reply about 4 KiB, so the replies to a few hundred LISTs overflow the
        // socket buffers while the client reads none of them: the server blocks in send, where no receive timeout
        // can reach it.
        var export = new NbdExport("disk", new Blocks.Devices.MemoryBlockDevice(1 << 20), description: new string('d', 4000));
        await using var ts = NbdTestServer.Start(options: new NbdServerOptions { HandshakeTimeout = TimeSpan.FromSeconds(1) }, exports: export);
        await using var client = await ts.ConnectAsync();
        await client.StartAsync();
        var batch = new List<byte>();
        for (var i = 0; i < 200; i++)
        {
            batch.AddRange(RawNbdClient.OptionBytes((uint)NbdOption.List, []));
        }

        var clock = Stopwatch.StartNew();
        await client.SendAsync(batch.ToArray());
        var open = await ts.WaitForConnectionsAsync(0, TimeSpan.FromSeconds(4));
        Assert.True(open == 0, $"a client that stopped reading replies was still connected after {clock.Elapsed} with a 1 s handshake timeout");
    }

    [Fact]
    public async Task HandshakeFinishedJustBeforeTheDeadline_IsNeverDroppedByIt()
    {
        // Most of the deadline spent before GO, with margin for a loaded CI machine.
        await using var ts = NbdTestServer.Start(options: new NbdServerOptions { HandshakeTimeout = TimeSpan.FromSeconds(5) });
        await using var client = await ts.ConnectAsync();
        await client.StartAsync();
        await Task.Delay(3000);
        await client.NegotiateGoOnlyAsync("disk");

        // Idle in transmission for well past the deadline the handshake ran under.
        await Task.Delay(4000);
        Assert.Equal(new byte[4096], await client.ReadDataAsync(0, 4096));
        Assert.Equal(1, ts.Server.ActiveConnections);
    }

    [Fact]
    public async Task ConnectionsOverTheDefaultCap_AreClosedAtOnce()
    {
        var options = new NbdServerOptions();
        Assert.Equal(100, options.MaxConnections);
        await using var ts = NbdTestServer.Start(options: options);
        var idle = new List<RawNbdClient>();
        try
        {
            for (var i = 0; i < options.MaxConnections; i++)
            {
                var client = await ts.ConnectAsync();
                idle.Add(client);
                await client.ReadGreetingAsync();
            }

            await using var extra = await ts.ConnectAsync();
            var clock = Stopwatch.StartNew();
            await extra.AssertClosedWithoutDataAsync(TimeSpan.FromSeconds(5));

            // "At once" against the 10 s handshake clock it would otherwise wait for; loose for a loaded machine.
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(4), $"connection {options.MaxConnections + 1} closed only after {clock.Elapsed}");
            Assert.Equal(options.MaxConnections, ts.Server.ActiveConnections);
        }
        finally
        {
            foreach (var client in idle)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task AfterIdlersAreDropped_AGoodClientIsServed()
    {
        await using var ts = NbdTestServer.Start(options: new NbdServerOptions { MaxConnections = 3, HandshakeTimeout = TimeSpan.FromSeconds(1) });
        var idle = new List<RawNbdClient>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var client = await ts.ConnectAsync();
                idle.Add(client);
                await client.ReadGreetingAsync();
            }

            await using (var refused = await ts.ConnectAsync())
            {
                await refused.AssertClosedWithoutDataAsync(TimeSpan.FromSeconds(1));
            }

            foreach (var client in idle)
            {
                Assert.True(await client.WaitForCloseAsync(TimeSpan.FromSeconds(4)), "an idle client outlived the handshake deadline");
            }

            Assert.Equal(0, await ts.WaitForConnectionsAsync(0, TimeSpan.FromSeconds(3)));
            await using var good = await ts.OpenAsync("disk");
            Assert.Equal(new byte[512], await good.ReadDataAsync(0, 512));
        }
        finally
        {
            foreach (var client in idle)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Fact]
    public void DefaultHandshakeTimeout_IsTenSeconds_AsQemu()
    {
        Assert.Equal(TimeSpan.FromSeconds(10), new NbdServerOptions().HandshakeTimeout);
    }

    /// <summary>A timer cannot run that long: refused when the server is made, not by every connection's clock.</summary>
    [Theory]
    [InlineData(-1.0)]
    [InlineData(0.0)]
    [InlineData(60 * 86400.0)]
    public void HandshakeTimeoutOutOfRange_IsRefusedUpFront(double seconds)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new NbdServer(new NbdServerOptions { HandshakeTimeout = TimeSpan.FromSeconds(seconds) }));
    }
}
