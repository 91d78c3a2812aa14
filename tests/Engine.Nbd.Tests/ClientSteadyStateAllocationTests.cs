using System.Diagnostics;
using Engine.Blocks.Devices;
using Engine.Nbd.Client;
using Engine.Nbd.Server;
using Engine.Nbd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Engine.Nbd.Tests;

/// <summary>
/// The client's side of the promise <see cref="SteadyStateAllocationTests"/> checks for the server: once warm,
/// <see cref="NbdClient.ReadAsync"/> and <see cref="NbdClient.WriteAsync"/> allocate nothing per request, pipelined or
/// not, with completions on the reader thread or on the thread pool, over one connection or several.
/// </summary>
/// <remarks>
/// The server is Engine's own, in process, on a memory export; its READ path is held to zero bytes by
/// <see cref="SteadyStateAllocationTests"/>, so what is left in the count is the client's. The count is
/// <see cref="GC.GetTotalAllocatedBytes(bool)"/> over the whole process (the client's work is spread over the
/// caller, the connection's reader thread and pool threads), taken in four windows with the quietest judged against a
/// byte per request: a per-request allocation shows in every window and costs at least 24 bytes, a burst of the test
/// host's shows in one. The driving loop allocates nothing itself (buffers and the array of pending tasks are made
/// up front, the data is checked with span comparisons and counted, not asserted), and the serial collection keeps
/// other tests from running beside it. Behaviour against other servers is the interop tests' business.
/// </remarks>
[Collection(SerialCollection.Name)]
public sealed class ClientSteadyStateAllocationTests(ITestOutputHelper output)
{
    private const int ExportSize = 8 << 20;
    private const int WarmupRequests = 8000;

    /// <summary>The process-wide count is taken over this many windows and the quietest one judged.</summary>
    private const int Windows = 4;

    /// <summary>How long warm-up may wait for tiered compilation to settle before measuring anyway.</summary>
    private static readonly TimeSpan WarmupLimit = TimeSpan.FromSeconds(15);

    /// <summary>
    /// One case per way the client completes a request: one in flight or a pipeline, on the pool or inline on the
    /// reader thread, one connection or multi-conn, structured replies with extended headers or simple replies.
    /// </summary>
    [Theory]
    [InlineData(false, 1, 1, false, true)]
    [InlineData(false, 16, 1, false, true)]
    [InlineData(false, 16, 1, true, true)]
    [InlineData(false, 16, 1, false, false)]
    [InlineData(false, 16, 2, false, true)]
    [InlineData(false, 16, 2, true, true)]
    [InlineData(true, 1, 1, false, true)]
    [InlineData(true, 16, 1, false, true)]
    [InlineData(true, 16, 2, false, true)]
    [InlineData(true, 16, 2, true, true)]
    public async Task Request_AllocatesNothingPerRequest_InSteadyState(bool write, int depth, int connections, bool inlineCompletions, bool extendedHeaders)
    {
        const int length = 4096;
        var device = new MemoryBlockDevice(ExportSize);
        await device.WriteAsync(0, NbdData.Pattern(ExportSize, 7));
        await using var server = NbdTestServer.Start(exports: new NbdExport("disk", device));
        var options = new NbdClientOptions { Connections = connections, InlineCompletions = inlineCompletions, ExtendedHeaders = extendedHeaders, StructuredReplies = extendedHeaders };
        await using var client = await NbdClient.ConnectAsync($"nbd+unix:///disk?socket={server.SocketPath}", options);
        Assert.Equal(connections, client.ConnectionCount);
        Assert.Equal(extendedHeaders, client.Export.ExtendedHeaders);

        var loop = new RequestLoop(client, write, depth, length);

        var requests = write ? 8000 : 16000;
        var rounds = requests / depth / Windows;

        // Warm up until every method on the path has been promoted by tiered compilation: unoptimised code boxes where
        // optimised code does not, and the steady state is what the promise is about. On a busy machine the promotion
        // can lag well behind a fixed count (the first test of a run is the worst), so windows run until one is quiet,
        // up to a deadline; an allocation per request never gets quiet, runs into it and fails below.
        Assert.Equal(0, await loop.RunAsync(WarmupRequests / depth));
        var warmup = Stopwatch.StartNew();
        while (warmup.Elapsed < WarmupLimit)
        {
            var before = GC.GetTotalAllocatedBytes(precise: true);
            Assert.Equal(0, await loop.RunAsync(rounds));
            if (GC.GetTotalAllocatedBytes(precise: true) - before <= rounds * depth)
            {
                break;
            }
        }

        var quietest = long.MaxValue;
        var mismatches = 0;
        for (var window = 0; window < Windows; window++)
        {
            var before = GC.GetTotalAllocatedBytes(precise: true);
            mismatches += await loop.RunAsync(rounds);
            quietest = Math.Min(quietest, GC.GetTotalAllocatedBytes(precise: true) - before);
        }

        Assert.Equal(0, mismatches);
        await loop.AssertWritesLandedAsync(device);

        var measured = rounds * depth * Windows;
        var what = $"{measured} {(write ? "WRITE" : "READ")}s of {length} bytes (depth {depth}, {connections} connection(s), inline completions {inlineCompletions}, extended headers {extendedHeaders})";
        output.WriteLine($"{what}: warm-up {warmup.Elapsed.TotalSeconds:F1} s past the first {WarmupRequests}; quietest of {Windows} windows {quietest} bytes ({(double)quietest * Windows / measured:F3} per request)");
        Assert.True(quietest <= measured / Windows, $"the process allocated {quietest} bytes over {measured / Windows} of {what}, in the quietest window");
    }

    /// <summary>
    /// Keeps <c>depth</c> requests in flight through <see cref="NbdClient"/> and checks each READ's data with a span
    /// comparison. Everything it needs is made in the constructor; the async method's own box is made at its first
    /// wait and reused for every later one, so a run allocates nothing unless the client does.
    /// </summary>
    private sealed class RequestLoop
    {
        private readonly NbdClient _client;
        private readonly bool _write;
        private readonly int _length;
        private readonly byte[] _expected;
        private readonly byte[][] _buffers;
        private readonly ValueTask[] _pending;
        private readonly long[] _offsets;
        private long _next;

        public RequestLoop(NbdClient client, bool write, int depth, int length)
        {
            _client = client;
            _write = write;
            _length = length;
            _expected = NbdData.Pattern(ExportSize, 7);
            _buffers = new byte[depth][];
            for (var i = 0; i < depth; i++)
            {
                // WRITE sends a block of its own so that the export's content shows the writes landed.
                _buffers[i] = write ? NbdData.Pattern(length, 100 + i) : new byte[length];
            }

            _pending = new ValueTask[depth];
            _offsets = new long[depth];
        }

        /// <summary>Issues <paramref name="rounds"/> × depth requests; returns how many READs brought the wrong bytes.</summary>
        public async Task<int> RunAsync(int rounds)
        {
            var mismatches = 0;
            for (var round = 0; round < rounds; round++)
            {
                for (var i = 0; i < _pending.Length; i++)
                {
                    _offsets[i] = NextOffset();

                    // Kept to be awaited once, below: that is how a caller pipelines without a Task per request.
#pragma warning disable CA2012
                    _pending[i] = _write
                        ? _client.WriteAsync(_offsets[i], _buffers[i])
                        : _client.ReadAsync(_offsets[i], _buffers[i]);
#pragma warning restore CA2012
                }

                for (var i = 0; i < _pending.Length; i++)
                {
                    await _pending[i].ConfigureAwait(false);
                    if (!_write && !_buffers[i].AsSpan().SequenceEqual(_expected.AsSpan((int)_offsets[i], _length)))
                    {
                        mismatches++;
                    }
                }
            }

            return mismatches;
        }

        /// <summary>Each WRITE's block is where it was sent: the last round's offsets, read back from the device.</summary>
        public async Task AssertWritesLandedAsync(MemoryBlockDevice device)
        {
            if (!_write)
            {
                return;
            }

            var back = new byte[_length];
            for (var i = 0; i < _pending.Length; i++)
            {
                await device.ReadAsync(_offsets[i], back);
                Assert.Equal(_buffers[i], back);
            }
        }

        /// <summary>Offsets walk the export so each request touches different bytes.</summary>
        private long NextOffset()
        {
            var offset = _next;
            _next = (_next + _length) % ExportSize;
            return offset;
        }
    }
}
