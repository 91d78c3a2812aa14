using BenchmarkDotNet.Attributes;
using Engine.Benchmarks.Support;
using Engine.Blocks;
using Engine.Blocks.Devices;

namespace Engine.Benchmarks.Nbd;

/// <summary>
/// One READ round trip through Engine's server over a Unix socket pair, from a file export in the page cache: 4 KiB
/// takes the small-read path (pooled buffer, pread), 1 MiB the sendfile(2) path. The client allocates nothing, so the
/// allocation column is the server's (BenchmarkDotNet counts every thread of the process).
/// </summary>
[MemoryDiagnoser]
public class ServerReadBenchmarks : ReadRoundTripBenchmark
{
    private RawNbdClient _client = null!;

    [Benchmark]
    public void Read() => _client.Read(NextOffset(), Buffer);

    private protected override IBlockDevice CreateDevice(ScratchDirectory scratch)
    {
        var path = scratch.File("disk.raw");
        File.WriteAllBytes(path, TestData.Random((int)ExportSize));
        return FileBlockDevice.Open(path, new FileBlockDeviceOptions { ReadOnly = true });
    }

    private protected override void Connect(ServedExport export) => _client = new RawNbdClient(export.SocketPath);

    private protected override void Disconnect() => _client.Dispose();
}
