using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Engine.Blocks.Buffers;
using Engine.Blocks.Devices;
using Engine.Nbd.Protocol;
using Engine.Nbd.Server;
using Engine.Nbd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Engine.Nbd.Tests;

/// <summary>
/// Runs alone: its tests count process threads, connections or allocated bytes, which other tests running beside them
/// would disturb.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialCollection
{
    public const string Name = "serial";
}

/// <summary>
/// Seeded hostile clients against a live server while a well-behaved client keeps working. Any case that ever
/// broke the server goes into <see cref="HostileInputRegressionTests"/> as exact bytes.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class HostileInputTests(ITestOutputHelper output)
{
    /// <summary>The fixed seed. To explore others: <c>ENGINE_HOSTILE_SEED=123 ENGINE_HOSTILE_ITERATIONS=20000 dotnet test</c>.</summary>
    public const int Seed = 20_240_611;

    private static readonly int RunSeed = int.TryParse(Environment.GetEnvironmentVariable("ENGINE_HOSTILE_SEED"), out var s) ? s : Seed;
    private static readonly int Iterations = int.TryParse(Environment.GetEnvironmentVariable("ENGINE_HOSTILE_ITERATIONS"), out var n) ? n : 3000;

    private const int Workers = 8;
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(
        int.TryParse(Environment.GetEnvironmentVariable("ENGINE_HOSTILE_SECONDS"), out var t) ? t : 25);
    private static readonly TimeSpan CloseDeadline = TimeSpan.FromSeconds(5);

    internal static NbdTestServer StartHostileServer(out IPEndPoint tcp)
    {
        var hostile = new NbdExport(HostileCases.HostileExport, new MemoryBlockDevice(HostileCases.ExportSize));
        hostile.MetaContexts.Register(new FakeDirtyBitmapContext("qemu:dirty-bitmap:b0", HostileCases.ExportSize));
        var good = new NbdExport("good", new MemoryBlockDevice(HostileCases.ExportSize));
        var ts = NbdTestServer.Start(
            options: new NbdServerOptions
            {
                MaxPayload = HostileCases.MaxPayload,
                MaxRequestsInFlight = 16,
                MaxOptions = 64,
                HandshakeTimeout = TimeSpan.FromSeconds(3),
            },
            exports: [hostile, good]);
        tcp = ts.Server.ListenTcp(new IPEndPoint(IPAddress.Loopback, 0));
        return ts;
    }

    [Fact]
    public async Task SeededHostileClients_DoNotDisturbServerOrOtherClients()
    {
        output.WriteLine($"hostile input seed {RunSeed}, up to {Iterations} iterations, {Workers} workers, budget {Budget}");
        await using var ts = StartHostileServer(out var tcp);
        var baselineConnections = ts.Server.ActiveConnections;
        var baselineThreads = Process.GetCurrentProcess().Threads.Count;
        var baselineLeases = BufferPool.Shared.Outstanding;

        using var stop = new CancellationTokenSource();
        var goodRounds = 0;
        var goodTask = Task.Run(async () =>
        {
            var round = 0;
            while (!stop.IsCancellationRequested)
            {
                await WellBehavedRoundAsync(ts, round++);
                Interlocked.Increment(ref goodRounds);
            }
        });

        var failures = new ConcurrentQueue<string>();
        var kinds = new ConcurrentDictionary<string, int>();
        var next = -1;
        var sw = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, Workers).Select(_ => Task.Run(async () =>
        {
            while (sw.Elapsed < Budget && !goodTask.IsCompleted)
            {
                var i = Interlocked.Increment(ref next);
                if (i >= Iterations)
                {
                    break;
                }

                var c = HostileCases.Generate(RunSeed, i);
                kinds.AddOrUpdate(c.Kind + "/" + c.End, 1, (_, n) => n + 1);
                var problem = await HostileCases.RunAsync(c, ts.SocketPath, tcp, CloseDeadline);
                if (problem is not null)
                {
                    failures.Enqueue($"seed {RunSeed} iteration {i}: {problem}\n    {c}");
                }
            }
        })).ToArray();

        await Task.WhenAll(workers);
        var ran = Math.Min(next, Iterations);
        output.WriteLine($"ran {ran} hostile sessions in {sw.Elapsed.TotalSeconds:F1} s; well-behaved client completed {goodRounds} rounds");
        foreach (var (k, n) in kinds.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            output.WriteLine($"  {k}: {n}");
        }

        await stop.CancelAsync();
        await goodTask; // rethrows the well-behaved client's failure, if any

        foreach (var f in failures)
        {
            output.WriteLine(f);
        }

        Assert.True(failures.IsEmpty, $"{failures.Count} hostile sessions broke the server; first: {failures.FirstOrDefault()}");
        Assert.True(goodRounds >= 5, $"well-behaved client only completed {goodRounds} rounds");
        Assert.True(ran >= 500, $"only {ran} iterations ran within the budget");

        // Afterwards: connections back to the baseline, threads released, and the server still serves.
        var left = await ts.WaitForConnectionsAsync(baselineConnections, TimeSpan.FromSeconds(5));
        Assert.True(left == baselineConnections, $"{left - baselineConnections} connections leaked after the hostile run");
        await WellBehavedRoundAsync(ts, 1_000_000);
        Assert.Equal(baselineConnections, await ts.WaitForConnectionsAsync(baselineConnections, TimeSpan.FromSeconds(5)));

        var threads = 0;
        for (var i = 0; i < 50; i++)
        {
            threads = Process.GetCurrentProcess().Threads.Count;
            if (threads <= baselineThreads + 40)
            {
                break;
            }

            await Task.Delay(100);
        }

        output.WriteLine($"threads: {baselineThreads} before, {threads} after");
        Assert.True(threads <= baselineThreads + 40, $"thread count grew from {baselineThreads} to {threads}");

        // Every buffer the server rented for the hostile sessions went back to the pool.
        var leases = await WaitForLeasesAsync(baselineLeases);
        Assert.True(leases == baselineLeases, $"BufferPool.Shared has {leases - baselineLeases} leases outstanding after all connections closed");
    }

    private static async Task<int> WaitForLeasesAsync(int expected)
    {
        var leases = BufferPool.Shared.Outstanding;
        for (var i = 0; i < 50 && leases != expected; i++)
        {
            await Task.Delay(100);
            leases = BufferPool.Shared.Outstanding;
        }

        return leases;
    }

    /// <summary>
    /// Option and payload lengths are claims, not allocations: a server that sizes a buffer from them before the bytes
    /// arrive can be made to allocate gigabytes with a 20-byte message. Runs serially, so process-wide allocation
    /// counts are this test's alone.
    /// </summary>
    [Theory]
    [InlineData((uint)NbdOption.Go)]
    [InlineData((uint)NbdOption.Info)]
    [InlineData((uint)NbdOption.SetMetaContext)]
    [InlineData((uint)NbdOption.ListMetaContext)]
    [InlineData((uint)NbdOption.ExportName)]
    [InlineData(200u)]
    public async Task OversizedClaims_DoNotAllocate(uint option)
    {
        await using var ts = StartHostileServer(out _);
        var leases = BufferPool.Shared.Outstanding;
        var before = GC.GetTotalAllocatedBytes(precise: true);
        for (var i = 0; i < 4; i++)
        {
            var w = new WireBuilder().U32(3).U64(NbdMagic.IHaveOpt).U32(option).U32(0x7FFF_FFF0u).Bytes(new byte[100]);
            var c = new HostileCase("claim", false, HostileEnd.Close, w.ToArray());
            Assert.Null(await HostileCases.RunAsync(c, ts.SocketPath, null, TimeSpan.FromSeconds(5)));
        }

        // And in transmission: WRITE payload claims far beyond MaxPayload, compact and extended.
        var write = new WireBuilder().U32(3).Option((uint)NbdOption.Go, HostileCases.InfoData("hostile", []))
            .Compact(0, (ushort)NbdCommand.Write, 1, 0, 0xFFFF_FFF0u).Bytes(new byte[100]).ToArray();
        var extWrite = new WireBuilder().U32(3).Option((uint)NbdOption.ExtendedHeaders, []).Option((uint)NbdOption.Go, HostileCases.InfoData("hostile", []))
            .Extended((ushort)CommandFlags.PayloadLength, (ushort)NbdCommand.Write, 1, 0, 1ul << 40).Bytes(new byte[100]).ToArray();
        Assert.Null(await HostileCases.RunAsync(new HostileCase("write-claim", false, HostileEnd.HalfClose, write), ts.SocketPath, null, TimeSpan.FromSeconds(5)));
        Assert.Null(await HostileCases.RunAsync(new HostileCase("ext-write-claim", false, HostileEnd.HalfClose, extWrite), ts.SocketPath, null, TimeSpan.FromSeconds(5)));

        Assert.Equal(0, await ts.WaitForConnectionsAsync(0, TimeSpan.FromSeconds(5)));
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.True(allocated < 64L << 20, $"{allocated >> 20} MiB allocated while refusing oversized claims");
        Assert.Equal(leases, await WaitForLeasesAsync(leases));
    }

    /// <summary>Connect, negotiate (varying features), write patterns, read them back, disconnect cleanly.</summary>
    internal static async Task WellBehavedRoundAsync(NbdTestServer ts, int round)
    {
        var step = "connect";
        var started = Stopwatch.StartNew();
        try
        {
            await using var client = await ts.ConnectAsync();
            step = "negotiate";
            await client.NegotiateAsync("good", structured: round % 2 == 0, extended: round % 3 == 0);
            for (var j = 0; j < 8; j++)
            {
                var length = 4096 << (j % 4);
                var offset = (ulong)((round * 8) + j) * 65536 % (ulong)(HostileCases.ExportSize - length);
                var pattern = NbdData.Pattern(length, (round * 31) + j);
                step = $"write {j}";
                await client.WriteDataAsync(offset, pattern);
                step = $"read {j}";
                var back = await client.ReadDataAsync(offset, length);
                Assert.True(pattern.AsSpan().SequenceEqual(back), $"round {round}: read back different data at {offset}");
            }

            step = "disconnect";
            await client.SendRequestAsync(NbdCommand.Disconnect, CommandFlags.None, 0, 0);
            Assert.True(await client.WaitForCloseAsync(TimeSpan.FromSeconds(5)), "server did not close after NBD_CMD_DISC");
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or IOException or TimeoutException)
        {
            throw new InvalidOperationException($"well-behaved round {round} failed at step '{step}' after {started.ElapsedMilliseconds} ms: {ex.Message}", ex);
        }
    }
}
