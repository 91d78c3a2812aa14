using System.Diagnostics;
using System.Globalization;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Chunks;

// Single-core throughput of the repository's chunk path: SHA-256 alone, then ChunkStore.PutAsync (hash + zstd probe
// or compression + checksum + temporary file + rename) for new random, compressible and 50/50 mixed 4 MiB chunks,
// then Read. Prints one line per case: MB/s of uncompressed input (1 MB = 10^6 bytes).
var directory = args.Length > 0 ? args[0] : Path.Combine(Path.GetTempPath(), "engine-repo-bench");
var chunks = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 64;
const int ChunkSize = 4 << 20;

if (Directory.Exists(directory))
{
    Directory.Delete(directory, recursive: true);
}

var random = new Random(1);
var randomData = new byte[chunks][];
var compressibleData = new byte[chunks][];
for (var i = 0; i < chunks; i++)
{
    randomData[i] = new byte[ChunkSize];
    random.NextBytes(randomData[i]);
    // Disk-like compressible content: 4 KiB blocks, half zero-padded text-ish records, half repeats.
    compressibleData[i] = new byte[ChunkSize];
    for (var o = 0; o < ChunkSize; o += 4096)
    {
        var block = compressibleData[i].AsSpan(o, 4096);
        for (var b = 0; b < 2048; b++)
        {
            block[b] = (byte)(' ' + ((b * 7 + o / 4096 + i) % 60) + (random.Next(16) == 0 ? random.Next(30) : 0));
        }
    }
}

var mixed = new byte[chunks][];
for (var i = 0; i < chunks; i++)
{
    var source = i % 2 == 0 ? randomData : compressibleData;
    mixed[i] = (byte[])source[i].Clone();
    mixed[i][0] ^= 0x5a; // distinct from the pure sets, so every put is new
}

using var repository = BackupRepository.Open(directory, new RepositoryOptions { ChunkSize = ChunkSize });
Measure("sha256 only", randomData, data => ChunkDigest.Compute(data));
Measure("put random (raw)", randomData, data => Put(data));
Measure("put compressible (zstd-3)", compressibleData, data => Put(data));
Measure("put 50% random / 50% compressible", mixed, data => Put(data));
Measure("put existing (dedup hit)", randomData, data => Put(data));
var buffer = new byte[ChunkSize];
var digests = new Dictionary<byte[], ChunkDigest>(ReferenceEqualityComparer.Instance);
foreach (var data in randomData.Concat(compressibleData))
{
    digests[data] = ChunkDigest.Compute(data);
}

Measure("read random (raw)", randomData, data => repository.LocalChunks.Read(digests[data], buffer));
Measure("read compressible (zstd)", compressibleData, data => repository.LocalChunks.Read(digests[data], buffer));
long stored = 0;
foreach (var file in Directory.EnumerateFiles(Path.Combine(directory, "chunks"), "*", SearchOption.AllDirectories))
{
    stored += new FileInfo(file).Length;
}

Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"stored {stored / 1e6:0.0} MB for {3 * chunks * (ChunkSize / 1e6):0.0} MB of distinct input"));
Directory.Delete(directory, recursive: true);

void Put(byte[] data)
{
    var digest = ChunkDigest.Compute(data);
    repository.LocalChunks.PutAsync(digest, data, CancellationToken.None).AsTask().GetAwaiter().GetResult();
}

static void Measure(string name, byte[][] inputs, Action<byte[]> action)
{
    action(inputs[0]); // JIT and contexts warm
    var process = Process.GetCurrentProcess();
    var cpu = process.TotalProcessorTime;
    var clock = Stopwatch.StartNew();
    foreach (var input in inputs)
    {
        action(input);
    }

    var seconds = clock.Elapsed.TotalSeconds;
    process.Refresh();
    var cpuSeconds = (process.TotalProcessorTime - cpu).TotalSeconds;
    var megabytes = inputs.Length * (double)ChunkSize / 1e6;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name,-36} {megabytes / seconds,8:0} MB/s wall  {megabytes / cpuSeconds,8:0} MB/s per CPU-second"));
}
