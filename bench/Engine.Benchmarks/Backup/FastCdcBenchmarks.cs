using BenchmarkDotNet.Attributes;
using Engine.Backup.Containers.Chunking;
using Engine.Benchmarks.Support;

namespace Engine.Benchmarks.Backup;

/// <summary>Content-defined chunking of container file data with the default sizes (64 KiB / 256 KiB / 1 MiB).</summary>
[MemoryDiagnoser]
public class FastCdcBenchmarks
{
    private const int InputSize = 16 << 20;

    private byte[] _data = null!;

    [GlobalSetup]
    public void Setup() => _data = TestData.Random(InputSize);

    /// <summary>Cuts 16 MiB into chunks; returns how many.</summary>
    [Benchmark]
    public int Chunk16MiB()
    {
        var chunker = FastCdc.Default;
        ReadOnlySpan<byte> rest = _data;
        var chunks = 0;
        while (!rest.IsEmpty)
        {
            rest = rest[chunker.NextCut(rest)..];
            chunks++;
        }

        return chunks;
    }
}
