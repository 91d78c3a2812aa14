// Puts N half-compressible 4 MiB chunks through one chunk store and reads them back; prints MB/s and CPU seconds.
//   ChunkObjectThroughput filestore DIR [MIB] [PARALLEL] [sync]   today's ChunkStore (O_DIRECT, no per-chunk fsync unless "sync")
//   ChunkObjectThroughput local DIR [MIB] [PARALLEL]              ObjectChunkStore over LocalDirectoryStore
//   ChunkObjectThroughput s3 s3://BUCKET/PREFIX [MIB] [PARALLEL]  ObjectChunkStore over S3ObjectStore (AWS_* variables)
using System.Diagnostics;
using System.Globalization;
using Engine.Backup.Repository.ChunkObjects;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Storage;
using Engine.Backup.Repository.Storage.Local;
using Engine.Backup.Repository.Storage.Stack;
using Engine.Backup.S3;

const int ChunkLength = 4 << 20;
var mode = args[0];
var target = args[1];
var mib = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 1024;
var parallel = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 2;
var sync = args.Length > 4 && args[4] == "sync";
var count = mib / 4;

// One random pool; chunk i is 4 MiB of it (at an offset of its own, its number in front) with every other 4 KiB
// block a pattern: zstd halves it, and the codec's 64 KiB probe sees the same mix as the whole chunk.
var pool = new byte[16 << 20];
new Random(42).NextBytes(pool);
void Fill(int i, Span<byte> chunk)
{
    pool.AsSpan((i * 65_537) % (pool.Length - ChunkLength), ChunkLength).CopyTo(chunk);
    BitConverter.TryWriteBytes(chunk, i);
    for (var block = 4096; block < ChunkLength; block += 8192)
    {
        chunk.Slice(block, 4096).Fill((byte)(i + block));
    }
}

var digests = new ChunkDigest[count];
var scratch = new byte[ChunkLength];
for (var i = 0; i < count; i++)
{
    Fill(i, scratch);
    digests[i] = ChunkDigest.Compute(scratch);
}

Func<ChunkDigest, ReadOnlyMemory<byte>, ValueTask<long>> put;
Func<ChunkDigest, Memory<byte>, ValueTask<int>> read;
IObjectStore? store = null;
switch (mode)
{
    case "filestore":
        Directory.CreateDirectory(Path.Combine(target, "chunks"));
        Directory.CreateDirectory(Path.Combine(target, "tmp"));
        var files = new ChunkStore(Path.Combine(target, "chunks"), Path.Combine(target, "tmp"), 3, sync);
        put = async (d, m) => (await files.PutAsync(d, m, CancellationToken.None)).StoredBytes;
        read = (d, m) => ValueTask.FromResult(files.Read(d, m.Span));
        break;
    case "local":
    case "s3":
        IObjectStore backend = mode == "local"
            ? new LocalDirectoryStore(target)
            : await OpenS3Async(target);
        store = await ObjectStoreStack.BuildAsync(backend, new ObjectStoreStackOptions(), CancellationToken.None);
        var objects = new ObjectChunkStore(store, 3);
        put = async (d, m) => (await objects.PutAsync(d, m, CancellationToken.None)).StoredBytes;
        read = (d, m) => objects.ReadAsync(d, ChunkStore.UnknownPayloadChecksum, m, CancellationToken.None);
        break;
    default:
        Console.Error.WriteLine($"unknown mode {mode}");
        return 64;
}

long stored = 0;
var (putSeconds, putCpu) = await Measure(async () =>
{
    await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = parallel }, async (i, _) =>
    {
        var chunk = new byte[ChunkLength];
        Fill(i, chunk);
        Interlocked.Add(ref stored, await put(digests[i], chunk));
    });
});
var (readSeconds, readCpu) = await Measure(async () =>
{
    await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = parallel }, async (i, _) =>
    {
        var chunk = new byte[ChunkLength];
        if (await read(digests[i], chunk) != ChunkLength)
        {
            throw new InvalidOperationException($"chunk {i} read back short");
        }
    });
});

var megabytes = (double)count * ChunkLength / 1e6;
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"{mode}{(sync ? "+sync" : "")} x{parallel}: put {megabytes:F0} MB in {putSeconds:F2} s = {megabytes / putSeconds:F0} MB/s, CPU {putCpu:F2} s (stored {stored / 1e6:F0} MB); read {readSeconds:F2} s = {megabytes / readSeconds:F0} MB/s, CPU {readCpu:F2} s"));
if (store is not null)
{
    await store.DisposeAsync();
}

return 0;

static async Task<(double Seconds, double Cpu)> Measure(Func<Task> work)
{
    var process = Process.GetCurrentProcess();
    var cpu = process.TotalProcessorTime;
    var clock = Stopwatch.StartNew();
    await work();
    process.Refresh();
    return (clock.Elapsed.TotalSeconds, (process.TotalProcessorTime - cpu).TotalSeconds);
}

static async Task<IObjectStore> OpenS3Async(string url)
{
    var location = S3RepositoryLocation.Parse(url);
    var options = S3StoreOptions.FromEnvironment(null);
    await S3Repository.InitializeAsync(location, options, null, CancellationToken.None);
    return await S3ObjectStore.OpenAsync(location, options, CancellationToken.None);
}
