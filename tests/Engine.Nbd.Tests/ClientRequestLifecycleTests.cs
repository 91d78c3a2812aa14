using Engine.Blocks;
using Engine.Blocks.Devices;
using Engine.Nbd.Client;
using Engine.Nbd.Server;
using Engine.Nbd.Tests.Infrastructure;

namespace Engine.Nbd.Tests;

/// <summary>
/// How <see cref="NbdClient"/> hands a request back to its caller, against Engine's server in process: a request's
/// slot is free again once its result is read, however the caller waits (awaiting, blocking, waiting for a slot),
/// and failures arrive through the returned task rather than as a throw from the call.
/// </summary>
public sealed class ClientRequestLifecycleTests
{
    private const int ExportSize = 1 << 20;

    [Fact]
    public async Task Read_MoreInFlightThanSlots_WaitsForSlots_AllByteExact()
    {
        var expected = NbdData.Pattern(ExportSize, 3);
        await using var server = NbdTestServer.Start(exports: new NbdExport("disk", new SlowReadDevice(await MemoryWithAsync(expected), TimeSpan.FromMilliseconds(20))));
        await using var client = await ConnectAsync(server, new NbdClientOptions { Connections = 1, RequestsInFlight = 2 });

        var buffers = new byte[16][];
        var reads = new Task[buffers.Length];
        for (var i = 0; i < buffers.Length; i++)
        {
            buffers[i] = new byte[4096];
            reads[i] = client.ReadAsync(i * 8192L, buffers[i]).AsTask();
        }

        await Task.WhenAll(reads);
        for (var i = 0; i < buffers.Length; i++)
        {
            Assert.Equal(expected.AsSpan(i * 8192, 4096).ToArray(), buffers[i]);
        }
    }

    [Fact]
    public async Task Read_BlockingOnTheTaskBeforeTheReply_WaitsForIt_AndFreesTheSlot()
    {
        var expected = NbdData.Pattern(ExportSize, 4);
        await using var server = NbdTestServer.Start(exports: new NbdExport("disk", new SlowReadDevice(await MemoryWithAsync(expected), TimeSpan.FromMilliseconds(200))));
        await using var client = await ConnectAsync(server, new NbdClientOptions { Connections = 1, RequestsInFlight = 1 });

        // Sync over async, which the analyzers forbid in Engine but a caller's code may still do: the reply is 200 ms
        // away when the caller starts to block. It worked when ReadAsync was an async method (its task blocks), and
        // handing the slot back before the reply would let a reused request land data in the wrong buffer.
        var first = new byte[4096];
#pragma warning disable CA2012
        await Task.Run(() => client.ReadAsync(4096, first).GetAwaiter().GetResult());
#pragma warning restore CA2012
        Assert.Equal(expected.AsSpan(4096, 4096).ToArray(), first);

        // One slot: this read only goes out if the blocking wait gave it back.
        var second = new byte[4096];
        await client.ReadAsync(65536, second).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(expected.AsSpan(65536, 4096).ToArray(), second);
    }

    [Fact]
    public async Task ServerError_FaultsTheTask_AndTheSlotIsReused()
    {
        var device = new FaultyDevice(new MemoryBlockDevice(ExportSize)) { FaultOffset = 0, FaultLength = 4096 };
        await using var server = NbdTestServer.Start(exports: new NbdExport("disk", device));
        await using var client = await ConnectAsync(server, new NbdClientOptions { Connections = 1, RequestsInFlight = 1 });

        var buffer = new byte[4096];
        for (var i = 0; i < 3; i++)
        {
            var error = await Assert.ThrowsAsync<NbdServerErrorException>(() => client.ReadAsync(0, buffer).AsTask());
            Assert.Contains("Read at 0+4096 failed: EIO", error.Message, StringComparison.Ordinal);
            await client.WriteAsync(8192, buffer);
        }
    }

    [Fact]
    public async Task CallerErrors_ComeThroughTheTask_NotAsAThrowFromTheCall()
    {
        await using var server = NbdTestServer.Start(size: ExportSize);
        var client = await ConnectAsync(server, new NbdClientOptions { Connections = 1 });
        var buffer = new byte[4096];

        var outside = client.ReadAsync(ExportSize, buffer);
        Assert.True(outside.IsFaulted);
        var range = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => outside.AsTask());
        Assert.Contains($"is outside the export (size {ExportSize})", range.Message, StringComparison.Ordinal);

        await client.DisposeAsync();
        var read = client.ReadAsync(0, buffer);
        var write = client.WriteAsync(0, buffer);
        Assert.True(read.IsFaulted && write.IsFaulted);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => read.AsTask());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => write.AsTask());
    }

    private static Task<NbdClient> ConnectAsync(NbdTestServer server, NbdClientOptions options) =>
        NbdClient.ConnectAsync($"nbd+unix:///disk?socket={server.SocketPath}", options);

    private static async Task<IBlockDevice> MemoryWithAsync(byte[] content)
    {
        var device = new MemoryBlockDevice(content.Length);
        await device.WriteAsync(0, content);
        return device;
    }
}
