using BenchmarkDotNet.Attributes;
using Engine.Benchmarks.Support;
using Engine.Blocks;
using Engine.Blocks.Devices;
using Engine.Nbd.Client;

namespace Engine.Benchmarks.Nbd;

/// <summary>
/// One READ through Engine's client: the request, then the reply parse on its reader thread (extended headers, as
/// negotiated with Engine's server) straight into the caller's buffer. The server is Engine's, serving memory, so
/// the figure is the client's cost plus a cheap server; compare <see cref="ServerReadBenchmarks"/>.
/// </summary>
[MemoryDiagnoser]
public class ClientReadBenchmarks : ReadRoundTripBenchmark
{
    private NbdClient _client = null!;

    /// <summary>Not async itself: the only state machine allocated is the client's.</summary>
    [Benchmark]
    public ValueTask Read() => _client.ReadAsync(NextOffset(), Buffer);

    private protected override IBlockDevice CreateDevice(ScratchDirectory scratch)
    {
        var device = new MemoryBlockDevice(ExportSize);
        device.WriteAsync(0, TestData.Random((int)ExportSize)).AsTask().GetAwaiter().GetResult();
        return device;
    }

    private protected override void Connect(ServedExport export) =>
        _client = NbdClient.ConnectAsync(export.Uri, new NbdClientOptions { Connections = 1, InlineCompletions = true }).GetAwaiter().GetResult();

    private protected override void Disconnect() => _client.DisposeAsync().AsTask().GetAwaiter().GetResult();
}
