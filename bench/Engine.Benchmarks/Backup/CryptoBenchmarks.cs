using BenchmarkDotNet.Attributes;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Crypto;
using Engine.Benchmarks.Support;

namespace Engine.Benchmarks.Backup;

/// <summary>
/// What an encrypted repository adds per 4 MiB chunk: sealing and opening it (AES-256-GCM, <see cref="ObjectCipher"/>)
/// and naming it by HMAC-SHA256 instead of SHA-256 (<see cref="KeyedChunkNaming"/> beside <see cref="Sha256ChunkNaming"/>).
/// </summary>
[MemoryDiagnoser]
public class CryptoBenchmarks
{
    private const int ChunkSize = 4 << 20;
    private const string ObjectKey = "chunks/ab/abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789";

    private RepositoryKey _key = null!;
    private ObjectCipher _cipher = null!;
    private KeyedChunkNaming _keyed = null!;
    private byte[] _chunk = null!;
    private byte[] _sealed = null!;
    private byte[] _opened = null!;

    [GlobalSetup]
    public void Setup()
    {
        _key = RepositoryKey.Generate();
        _cipher = _key.CreateObjectCipher();
        _keyed = _key.CreateChunkNaming();
        _chunk = TestData.Random(ChunkSize);
        _sealed = new byte[ObjectCipher.SealedLength(ChunkSize)];
        _opened = new byte[ChunkSize];
        _cipher.Seal(_chunk, ObjectKey, _sealed);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _cipher.Dispose();
        _key.Dispose();
    }

    [Benchmark]
    public void Seal() => _cipher.Seal(_chunk, ObjectKey, _sealed);

    [Benchmark]
    public void Open() => _cipher.Open(_sealed, ObjectKey, _opened, ObjectKey);

    [Benchmark(Baseline = true)]
    public ChunkDigest NameSha256() => Sha256ChunkNaming.Instance.Name(_chunk);

    [Benchmark]
    public ChunkDigest NameHmacSha256() => _keyed.Name(_chunk);
}
