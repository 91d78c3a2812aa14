using System.Diagnostics;
using System.Text.Json;
using Engine.Blocks;
using Engine.Nbd.Client;
using static Engine.Interop.Tests.Client.ClientInterop;
using static Engine.Interop.Tests.Infrastructure.DiskFiles;

namespace Engine.Interop.Tests.Client;

/// <summary>
/// Engine's NBD client and `engine copy`/`engine info` against nbdkit 1.32: the memory, sparse-random, pattern and data
/// plugins, and the error and delay filters (server errors, slow replies, request timeouts, a server killed mid-flight).
/// </summary>
public sealed class NbdkitClientTests
{
    private static Task<ServerProcess> NbdkitAsync(TempDir dir, params string[] args) =>
        ServerProcess.StartUnixAsync("nbdkit", dir["k.sock"], ["-U", dir["k.sock"], "-f", .. args]);

    [Fact]
    public async Task Memory_MultiConn_WriteReadZeroTrim_RoundTrip()
    {
        using var dir = new TempDir();
        const int size = 64 * MiB;
        await using var server = await NbdkitAsync(dir, "memory", "64M");
        await using var client = await NbdClient.ConnectAsync(server.Uri());
        Assert.True(client.Export.CanMultiConn, "nbdkit memory advertises multi-conn");
        Assert.Equal(Math.Clamp(Environment.ProcessorCount, 1, 4), client.ConnectionCount); // multi-conn default: one per core, up to 4
        Assert.Equal(size, client.Size);
        Assert.True(client.Export.StructuredReplies);
        Assert.False(client.Export.ExtendedHeaders, "nbdkit 1.32 has no extended headers");

        var expected = new byte[size];
        AssertBytes(expected, await ReadAsync(client, 0, size), "a fresh memory disk reads as zeroes");

        // 64 concurrent writes spread over the four connections, then reads of the same ranges.
        const int chunk = 128 * KiB;
        var offsets = Enumerable.Range(0, 64).Select(i => (i * 997L * KiB) % (size - chunk)).ToArray();
        var payloads = offsets.Select((_, i) => RandomBytes(chunk, 400 + i)).ToArray();
        await WithinAsync(Task.WhenAll(offsets.Select((o, i) => client.WriteAsync(o, payloads[i]).AsTask())), TimeSpan.FromSeconds(30), "64 concurrent writes");
        for (var i = 0; i < offsets.Length; i++)
        {
            payloads[i].CopyTo(expected.AsSpan((int)offsets[i]));
        }

        await client.FlushAsync();
        AssertBytes(expected, await ReadAsync(client, 0, size), "after concurrent writes (multi-conn: visible on every connection)");

        var big = RandomBytes(40 * MiB, 499); // > 32 MiB maximum payload: split by the client
        await client.WriteAsync(7, big, WriteFlags.Fua);
        big.CopyTo(expected.AsSpan(7));

        await client.WriteZeroesAsync(MiB, 3 * MiB, WriteZeroesFlags.None);
        expected.AsSpan(MiB, 3 * MiB).Clear();
        await client.WriteZeroesAsync(10 * MiB + 1, MiB, WriteZeroesFlags.MayPunchHole | WriteZeroesFlags.FastOnly);
        expected.AsSpan(10 * MiB + 1, MiB).Clear();
        await client.TrimAsync(20 * MiB, 4 * MiB);
        expected.AsSpan(20 * MiB, 4 * MiB).Clear(); // nbdkit-memory-plugin: trimmed ranges read as zeroes
        await client.CacheAsync(0, MiB);
        await client.FlushAsync();
        AssertBytes(expected, await ReadAsync(client, 0, size), "after write, zero and trim");

        // base:allocation agrees with nbdinfo on another connection (a server-wide view: the data really was written).
        var mine = await ClientMapAsync(client);
        AssertMapsEqual(await NbdinfoMapAsync(server.Uri()), mine, "memory plugin: client vs nbdinfo --map");
        Assert.Contains(mine, e => (e.Type & 1) != 0 && e.Offset <= 20 * MiB && e.Offset + e.Length >= 24 * MiB); // the trimmed hole

        await using var one = await NbdClient.ConnectAsync(server.Uri(), new NbdClientOptions { Connections = 1 });
        Assert.Equal(1, one.ConnectionCount);
        AssertBytes(expected.AsMemory(5 * MiB, MiB), await ReadAsync(one, 5 * MiB, MiB), "single-connection client");
    }

    [Fact]
    public async Task SparseRandom_EngineCopy_ToNullAndFile_MatchesNbdcopy()
    {
        using var dir = new TempDir();
        await using var server = await NbdkitAsync(dir, "sparse-random", "1G", "seed=4242", "runlength=1048576");
        var uri = server.Uri();
        var map = await NbdinfoMapAsync(uri);
        var dataBytes = map.Where(e => e.Type == 0).Sum(e => e.Length);
        Assert.True(dataBytes > 10 * MiB, $"sparse-random has only {dataBytes} data bytes");

        var toNull = (await EngineAsync("copy", uri, "null:", "--json")).AssertSuccess();
        using (var doc = JsonDocument.Parse(toNull.Stdout))
        {
            var root = doc.RootElement;
            Assert.Equal(1L << 30, root.GetProperty("bytes").GetInt64());
            Assert.Equal(dataBytes, root.GetProperty("data_bytes").GetInt64());
            Assert.Equal((1L << 30) - dataBytes, root.GetProperty("zero_bytes").GetInt64());
        }

        var ours = dir["engine.raw"];
        var theirs = dir["nbdcopy.raw"];
        (await EngineAsync("copy", uri, ours)).AssertSuccess();
        (await Tool.RunAsync("nbdcopy", uri, theirs)).AssertSuccess();
        Assert.Equal(1L << 30, new FileInfo(ours).Length);
        (await Tool.RunAsync("cmp", ours, theirs)).AssertSuccess();

        // Sparse: the holes were skipped, not written.
        var allocated = await AllocatedBytesAsync(ours);
        Assert.True(allocated < dataBytes + (64 * MiB), $"engine copy allocated {allocated} bytes for {dataBytes} bytes of data");
    }

    [Fact]
    public async Task Pattern_ReadsMatchThePluginDefinition()
    {
        using var dir = new TempDir();
        const int size = 64 * MiB;
        await using var server = await NbdkitAsync(dir, "pattern", "64M");
        await using var client = await NbdClient.ConnectAsync(server.Uri());
        Assert.Equal(size, client.Size);

        AssertBytes(Pattern(0, size), await ReadAsync(client, 0, size), "the whole 64 MiB in one call");
        foreach (var (offset, length) in new (long, int)[] { (1, 1), (3, 13), (8, 8), (4093, 9), (33 * MiB - 5, 11), (size - 3, 3), (12_345_679, 777_777) })
        {
            AssertBytes(Pattern(offset, length), await ReadAsync(client, offset, length), $"pattern at {offset}+{length}");
        }
    }

    [Fact]
    public async Task Data_ReadsAndMapsLikeNbdinfo()
    {
        using var dir = new TempDir();
        await using var server = await NbdkitAsync(dir, "data", "data=1 2 3 @0x1000 4 5 @0x80000 0xff", "size=1M");
        await using var client = await NbdClient.ConnectAsync(server.Uri());
        Assert.Equal(MiB, client.Size);

        var expected = new byte[MiB];
        expected[0] = 1;
        expected[1] = 2;
        expected[2] = 3;
        expected[0x1000] = 4;
        expected[0x1001] = 5;
        expected[0x80000] = 0xff;
        AssertBytes(expected, await ReadAsync(client, 0, MiB), "data plugin content");
        AssertBytes(expected.AsMemory(0x0fff, 4), await ReadAsync(client, 0x0fff, 4), "unaligned read around @0x1000");

        AssertMapsEqual(await NbdinfoMapAsync(server.Uri()), await ClientMapAsync(client), "data plugin: client vs nbdinfo --map");
        var theirs = (await Tool.RunAsync("nbdinfo", "--map", server.Uri())).AssertSuccess();
        var ours = (await EngineAsync("info", "--map", server.Uri())).AssertSuccess();
        Assert.Equal(theirs.Stdout, ours.Stdout);

        // --json: the same entries, fields and descriptions as nbdinfo's JSON (the layouts differ only in whitespace).
        var theirsJson = (await Tool.RunAsync("nbdinfo", "--map", "--json", server.Uri())).AssertSuccess();
        var oursJson = (await EngineAsync("info", "--map", "--json", server.Uri())).AssertSuccess();
        Assert.Equal(MapJson(theirsJson.Stdout), MapJson(oursJson.Stdout));
        Assert.Contains("\"description\": \"hole,zero\"", oursJson.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ErrorFilter_AllReadsFail_Eio_ConnectionSurvives()
    {
        using var dir = new TempDir();
        var trigger = dir["inject"];
        await using var server = await NbdkitAsync(dir, "--filter=error", "pattern", "16M", "error-pread=EIO", "error-pread-rate=100%", $"error-pread-file={trigger}");
        await using var client = await NbdClient.ConnectAsync(server.Uri(), new NbdClientOptions { Connections = 1 });

        AssertBytes(Pattern(4096, 4096), await ReadAsync(client, 4096, 4096), "before errors are switched on");
        await File.WriteAllTextAsync(trigger, "");
        for (var i = 0; i < 3; i++)
        {
            await ServerErrorAsync(() => client.ReadAsync(i * MiB, new byte[64 * KiB]).AsTask(), 5, $"read {i} with error-pread=EIO");
        }

        // Bigger than the maximum payload: every piece fails, the call reports EIO once.
        await ServerErrorAsync(() => client.ReadAsync(0, new byte[16 * MiB]).AsTask(), 5, "16 MiB read with error-pread=EIO");

        File.Delete(trigger);
        AssertBytes(Pattern(MiB + 3, 5000), await ReadAsync(client, MiB + 3, 5000), "after errors are switched off (same connection)");

        // engine copy turns the server error into a failure exit naming the errno.
        await File.WriteAllTextAsync(trigger, "");
        var copy = await EngineAsync("copy", server.Uri(), "null:");
        Assert.True(copy.ExitCode != 0, $"engine copy succeeded although every read fails\n{copy}");
        Assert.Contains("EIO", copy.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ErrorFilter_ThirtyPercent_64ConcurrentReads_FailOrSucceedCorrectly()
    {
        using var dir = new TempDir();
        await using var server = await NbdkitAsync(dir, "--filter=error", "pattern", "64M", "error-pread=EIO", "error-pread-rate=30%");
        await using var client = await NbdClient.ConnectAsync(server.Uri());

        for (var round = 0; round < 3; round++)
        {
            const int chunk = 256 * KiB;
            var reads = Enumerable.Range(0, 64).Select(async i =>
            {
                var offset = ((long)i * chunk) + round;
                var buffer = Junk(chunk);
                try
                {
                    await client.ReadAsync(offset, buffer);
                }
                catch (NbdServerErrorException e)
                {
                    Assert.True(e.Errno == 5, $"read {offset}: errno {e.Errno}, expected 5 ({e.Message})");
                    return false;
                }

                AssertBytes(Pattern(offset, chunk), buffer, $"read {offset} that succeeded");
                return true;
            }).ToList();
            var results = await WithinAsync(Task.WhenAll(reads), TimeSpan.FromSeconds(30), $"round {round}: 64 concurrent reads at 30% EIO");
            Assert.True(results.Any(ok => ok) && results.Any(ok => !ok),
                $"round {round}: {results.Count(ok => ok)} of 64 reads succeeded; with a 30% error rate both outcomes are expected");
        }
    }

    [Fact]
    public async Task ErrorFilter_WriteZeroTrimExtents_ReportTheInjectedErrno()
    {
        using var dir = new TempDir();
        await using var server = await NbdkitAsync(dir, "--filter=error", "memory", "16M",
            "error-pwrite=ENOSPC", "error-pwrite-rate=100%",
            "error-zero=EPERM", "error-zero-rate=100%",
            "error-trim=EINVAL", "error-trim-rate=100%",
            "error-extents=EIO", "error-extents-rate=100%");
        await using var client = await NbdClient.ConnectAsync(server.Uri());

        await ServerErrorAsync(() => client.WriteAsync(0, new byte[4096]).AsTask(), 28, "write with error-pwrite=ENOSPC");
        await ServerErrorAsync(() => client.WriteAsync(MiB, RandomBytes(MiB, 5), WriteFlags.Fua).AsTask(), 28, "FUA write with error-pwrite=ENOSPC");
        await ServerErrorAsync(() => client.WriteZeroesAsync(0, MiB, WriteZeroesFlags.None).AsTask(), 1, "write-zeroes with error-zero=EPERM");
        await ServerErrorAsync(() => client.TrimAsync(0, MiB).AsTask(), 22, "trim with error-trim=EINVAL");
        await ServerErrorAsync(() => client.GetExtentsAsync(0, MiB, new ExtentList()).AsTask(), 5, "block status with error-extents=EIO");
        AssertBytes(new byte[MiB], await ReadAsync(client, 0, MiB), "reads still work and nothing was written");

        var target = await EngineAsync("copy", CreateRandom(dir["src.raw"], MiB, 6), server.Uri());
        Assert.True(target.ExitCode != 0, $"engine copy to a target that refuses writes succeeded\n{target}");
        Assert.Contains("ENOSPC", target.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DelayFilter_ManyConcurrentSlowReads_CompleteCorrectly()
    {
        using var dir = new TempDir();
        await using var server = await NbdkitAsync(dir, "--filter=delay", "pattern", "64M", "delay-read=200ms");
        await using var client = await NbdClient.ConnectAsync(server.Uri(), new NbdClientOptions { RequestTimeout = TimeSpan.FromSeconds(20) });

        const int chunk = 512 * KiB;
        var clock = Stopwatch.StartNew();
        var reads = Enumerable.Range(0, 96).Select(async i =>
        {
            var offset = ((long)i * chunk) + (i % 8);
            AssertBytes(Pattern(offset, chunk - 8), await ReadAsync(client, offset, chunk - 8), $"slow read {i}");
        }).ToList();
        await WithinAsync(Task.WhenAll(reads), TimeSpan.FromSeconds(30), "96 concurrent reads of 200 ms each");
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(190), $"the delay filter did not delay ({clock.Elapsed})");
    }

    [Fact]
    public async Task DelayFilter_RequestTimeoutShorterThanTheDelay_DropsTheConnectionPromptly()
    {
        using var dir = new TempDir();
        await using var server = await NbdkitAsync(dir, "--filter=delay", "pattern", "16M", "delay-read=10");
        await using var client = await NbdClient.ConnectAsync(server.Uri(), new NbdClientOptions { Connections = 1, RequestTimeout = TimeSpan.FromMilliseconds(300) });

        var clock = Stopwatch.StartNew();
        var reads = Enumerable.Range(0, 8).Select(i => client.ReadAsync(i * MiB, new byte[4096]).AsTask()).ToList();
        foreach (var read in reads)
        {
            var error = await FaultWithinAsync(read, TimeSpan.FromSeconds(5), "read slower than RequestTimeout");
            Assert.IsType<NbdConnectionException>(error);
        }

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"the request timeout of 300 ms took {clock.Elapsed} to fire");

        // The connection is gone for good: later requests fail at once instead of waiting.
        var later = await FaultWithinAsync(client.ReadAsync(0, new byte[512]).AsTask(), TimeSpan.FromSeconds(2), "read after the timeout");
        Assert.IsType<NbdConnectionException>(later);
    }

    [Fact]
    public async Task ServerKilledMidFlight_EveryPendingRequestFailsPromptly()
    {
        using var dir = new TempDir();
        await using var server = await NbdkitAsync(dir, "--filter=delay", "pattern", "64M", "delay-read=5");
        await using var client = await NbdClient.ConnectAsync(server.Uri());
        Assert.Equal(Math.Clamp(Environment.ProcessorCount, 1, 4), client.ConnectionCount); // multi-conn default: one per core, up to 4

        var reads = Enumerable.Range(0, 64).Select(i => client.ReadAsync(i * 256L * KiB, new byte[256 * KiB]).AsTask()).ToList();
        await Task.Delay(500);
        Assert.True(reads.All(r => !r.IsCompleted), "reads finished before the server was killed: the delay filter did not hold them");

        server.Kill();
        var clock = Stopwatch.StartNew();
        var failures = new List<Exception>();
        foreach (var read in reads)
        {
            failures.Add(await FaultWithinAsync(read, TimeSpan.FromSeconds(5), "read in flight when nbdkit was killed"));
        }

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"pending reads took {clock.Elapsed} to fail after kill -9");
        Assert.All(failures, e => Assert.IsType<NbdConnectionException>(e));

        var later = await FaultWithinAsync(client.ReadAsync(0, new byte[512]).AsTask(), TimeSpan.FromSeconds(2), "read after the server died");
        Assert.IsType<NbdConnectionException>(later);
    }

    /// <summary>A --map --json document as (offset, length, type, description) tuples, whatever its whitespace.</summary>
    private static List<(long Offset, long Length, uint Type, string? Description)> MapJson(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.EnumerateArray()
            .Select(e => (e.GetProperty("offset").GetInt64(), e.GetProperty("length").GetInt64(), e.GetProperty("type").GetUInt32(), e.GetProperty("description").GetString()))
            .ToList();
    }
}
