using Engine.Backup.Repository.ChunkObjects;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Storage.Cache;
using Engine.Backup.Repository.Storage.Local;
using Engine.Backup.Repository.Storage.Stack;

namespace Engine.Backup.Tests.Storage;

/// <summary>The store stack: the known-chunk cache lives as long as <c>locks/epoch</c> stays what it was.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ObjectStoreStackTests : IDisposable
{
    private static readonly CancellationToken None = CancellationToken.None;
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task The_cache_survives_a_reopen_and_is_dropped_once_gc_raised_the_epoch()
    {
        var options = new ObjectStoreStackOptions(CachePath: _dir["known"]);
        var data = new byte[100_000];
        new Random(1).NextBytes(data);
        var digest = ChunkDigest.Compute(data);
        await using (var first = await ObjectStoreStack.BuildAsync(new LocalDirectoryStore(_dir["repo"]), options, None))
        {
            await new ObjectChunkStore(first, 3).PutAsync(digest, data, None);
            Assert.Equal(1, Assert.IsType<CachingObjectStore>(first).Cache.Count);
        }

        await using (var second = await ObjectStoreStack.BuildAsync(new LocalDirectoryStore(_dir["repo"]), options, None))
        {
            Assert.Equal(1, Assert.IsType<CachingObjectStore>(second).Cache.Count);

            // What gc does after deleting chunks.
            await second.SaveAsync(ObjectStoreStack.Epoch, "1\n"u8.ToArray(), default, None);
        }

        await using var third = await ObjectStoreStack.BuildAsync(new LocalDirectoryStore(_dir["repo"]), options, None);
        Assert.Equal(0, Assert.IsType<CachingObjectStore>(third).Cache.Count);
        Assert.Equal("1", await ObjectStoreStack.ReadGenerationAsync(third, None));
    }

    [Fact]
    public async Task An_epoch_that_is_no_token_is_hashed_and_a_missing_one_is_the_initial_generation()
    {
        await using var store = new LocalDirectoryStore(_dir["odd"]);
        Assert.Equal(ObjectStoreStack.InitialGeneration, await ObjectStoreStack.ReadGenerationAsync(store, None));

        await store.SaveAsync(ObjectStoreStack.Epoch, "two\nlines"u8.ToArray(), default, None);

        Assert.StartsWith("sha256:", await ObjectStoreStack.ReadGenerationAsync(store, None), StringComparison.Ordinal);
    }
}
