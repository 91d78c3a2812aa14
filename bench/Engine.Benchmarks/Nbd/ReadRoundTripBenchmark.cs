using BenchmarkDotNet.Attributes;
using Engine.Benchmarks.Support;
using Engine.Blocks;

namespace Engine.Benchmarks.Nbd;

/// <summary>
/// What the READ round-trip benchmarks share: a 64 MiB export served by Engine's server on a Unix socket, a reply
/// buffer of the request size, and offsets that walk the export so each READ asks for different bytes. A subclass
/// chooses the device and the client.
/// </summary>
public abstract class ReadRoundTripBenchmark
{
    /// <summary>Size of the served device.</summary>
    protected const long ExportSize = 64 << 20;

    private ScratchDirectory _scratch = null!;
    private IBlockDevice _device = null!;
    private ServedExport _export = null!;
    private long _offset;

    /// <summary>Bytes per READ: 4 KiB is the latency case, 1 MiB the bulk-copy case.</summary>
    [Params(4 << 10, 1 << 20)]
    public int Size { get; set; }

    /// <summary>Where each READ lands.</summary>
    protected byte[] Buffer { get; private set; } = [];

    [GlobalSetup]
    public void Setup()
    {
        _scratch = new ScratchDirectory(GetType().Name);
        _device = CreateDevice(_scratch);
        _export = new ServedExport(_scratch.File("nbd.sock"), _device);
        Buffer = new byte[Size];
        Connect(_export);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        Disconnect();
        _export.Dispose();
        _device.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _scratch.Dispose();
    }

    /// <summary>The offset of the next READ.</summary>
    protected long NextOffset()
    {
        var offset = _offset;
        _offset = (_offset + Size) % ExportSize;
        return offset;
    }

    private protected abstract IBlockDevice CreateDevice(ScratchDirectory scratch);

    private protected abstract void Connect(ServedExport export);

    private protected abstract void Disconnect();
}
