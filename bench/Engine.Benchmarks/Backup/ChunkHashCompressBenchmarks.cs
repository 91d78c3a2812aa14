using BenchmarkDotNet.Attributes;
using Engine.Backup.Repository.Chunks;
using Engine.Benchmarks.Support;

namespace Engine.Benchmarks.Backup;

/// <summary>
/// What the repository does to each 4 MiB disk chunk before it is stored: the digest that names it and the zstd
/// compression (level 3, the repository default) that shrinks it, or the probe that gives up on random data.
/// </summary>
[MemoryDiagnoser]
public class ChunkHashCompressBenchmarks
{
    private const int ChunkSize = 4 << 20;
    private const int Level = 3;

    private byte[] _chunk = null!;
    private byte[] _destination = null!;

    [Params("compressible", "random")]
    public string Data { get; set; } = "compressible";

    [GlobalSetup]
    public void Setup()
    {
        _chunk = Data == "random" ? TestData.Random(ChunkSize) : TestData.Compressible(ChunkSize);
        _destination = new byte[ChunkCodec.Bound(ChunkSize)];
    }

    [Benchmark]
    public ChunkDigest Hash() => ChunkDigest.Compute(_chunk);

    /// <summary>Compressed length, or -1 when the chunk is stored raw.</summary>
    [Benchmark]
    public int Compress() => ChunkCodec.TryCompress(_chunk, _destination, Level);

    [Benchmark]
    public int HashAndCompress() => ChunkDigest.Compute(_chunk).GetHashCode() ^ ChunkCodec.TryCompress(_chunk, _destination, Level);
}
