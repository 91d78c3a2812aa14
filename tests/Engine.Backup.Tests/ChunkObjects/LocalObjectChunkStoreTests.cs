using Engine.Backup.Repository.ChunkObjects;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Storage;
using Engine.Backup.Repository.Storage.Local;

namespace Engine.Backup.Tests.ChunkObjects;

/// <summary><see cref="ObjectChunkStore"/> over the local directory backend, and its agreement with <see cref="ChunkStore"/>.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LocalObjectChunkStoreTests : ObjectChunkStoreContract, IDisposable
{
    private readonly TempDir _dir = new();
    private int _stores;

    protected override Task<IObjectStore> CreateBackendAsync() =>
        Task.FromResult<IObjectStore>(new LocalDirectoryStore(_dir[$"repo{Interlocked.Increment(ref _stores)}"]));

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Both_stores_write_the_same_bytes_at_the_same_path_and_read_each_others_chunks()
    {
        var root = _dir["shared"];
        Directory.CreateDirectory(_dir["tmp"]);
        await using var backend = new LocalDirectoryStore(root);
        var objects = new ObjectChunkStore(backend, 3);
        var files = new ChunkStore(Path.Combine(root, "chunks"), _dir["tmp"], 3, syncEachChunk: false);
        var viaObjects = HalfCompressible(2 << 20, 20);
        var viaFiles = HalfCompressible(2 << 20, 21);
        var objectsDigest = ChunkDigest.Compute(viaObjects);
        var filesDigest = ChunkDigest.Compute(viaFiles);

        await objects.PutAsync(objectsDigest, viaObjects, CancellationToken.None);
        await files.PutAsync(filesDigest, viaFiles, CancellationToken.None);
        Directory.CreateDirectory(_dir["twin"]);
        var twin = new ChunkStore(_dir["twin"], _dir["tmp"], 3, syncEachChunk: false);
        await twin.PutAsync(objectsDigest, viaObjects, CancellationToken.None);

        Assert.Equal(await File.ReadAllBytesAsync(twin.PathOf(objectsDigest)), await File.ReadAllBytesAsync(files.PathOf(objectsDigest)));
        var back = new byte[2 << 20];
        Assert.Equal(viaObjects.Length, files.Read(objectsDigest, back));
        Assert.Equal(viaObjects, back);
        Assert.Equal(viaFiles.Length, await objects.ReadAsync(filesDigest, ChunkStore.UnknownPayloadChecksum, back, CancellationToken.None));
        Assert.Equal(viaFiles, back);
    }
}
