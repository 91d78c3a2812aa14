using System.Security.Cryptography;
using Engine.Backup.Repository.Storage;
using Engine.Backup.Repository.Storage.Cache;
using Engine.Backup.Repository.Storage.Local;

namespace Engine.Backup.Tests.Storage;

/// <summary>The known-chunk cache: what it answers without the store, what it learns, and when it forgets.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CachingObjectStoreTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly InstrumentedObjectStore _inner;

    public CachingObjectStoreTests()
    {
        _inner = new InstrumentedObjectStore(new LocalDirectoryStore(_dir["repo"]));
    }

    private string CachePath => _dir["cache/engine/repo-1/chunks.known"];

    public void Dispose() => _dir.Dispose();

    private static (ObjectName Name, byte[] Content) NewChunk(int seed)
    {
        var content = new byte[1000 + seed];
        new Random(seed).NextBytes(content);
        return (new ObjectName(ObjectKind.Chunk, Convert.ToHexStringLower(SHA256.HashData(content))), content);
    }

    private CachingObjectStore Caching(string generation = "gc-1") => new(_inner, new KnownObjectCache(CachePath, generation));

    [Fact]
    public async Task A_known_chunk_is_neither_sent_again_nor_asked_about()
    {
        await using var store = Caching();
        var (name, content) = NewChunk(1);

        var first = await store.SaveAsync(name, content, new SaveOptions(IfAbsent: true), CancellationToken.None);
        var second = await store.SaveAsync(name, content, new SaveOptions(IfAbsent: true), CancellationToken.None);
        var info = await store.StatAsync(name, CancellationToken.None);

        Assert.Equal(SaveOutcome.Written, first);
        Assert.Equal(SaveOutcome.AlreadyExists, second);
        Assert.Equal(1, _inner.Saves);
        Assert.Equal(0, _inner.Stats);
        Assert.Equal(content.Length, info?.Length);
        Assert.Equal(name, info?.Name);
    }

    [Fact]
    public async Task A_removal_is_on_file_before_the_store_is_asked_so_a_crash_cannot_bring_the_chunk_back()
    {
        var (name, content) = NewChunk(3);
        var first = Caching();
        await first.SaveAsync(name, content, new SaveOptions(IfAbsent: true), CancellationToken.None);
        first.Cache.Flush();
        Assert.True(await first.RemoveAsync(name, CancellationToken.None));

        // No Dispose and no Flush: the process "dies" here. A cache opened from the file must not vouch for the chunk.
        using var afterCrash = new KnownObjectCache(CachePath, "gc-1");
        Assert.False(afterCrash.TryGet(name, out _));
    }

    [Fact]
    public async Task The_cache_file_survives_a_restart_of_the_same_generation_only()
    {
        var (name, content) = NewChunk(2);
        var first = Caching();
        await first.SaveAsync(name, content, new SaveOptions(IfAbsent: true), CancellationToken.None);
        first.Cache.Dispose();

        using (var again = new KnownObjectCache(CachePath, "gc-1"))
        {
            var store = new CachingObjectStore(_inner, again);
            Assert.NotNull(await store.StatAsync(name, CancellationToken.None));
            Assert.Equal(0, _inner.Stats);
        }

        using (var afterGc = new KnownObjectCache(CachePath, "gc-2"))
        {
            var store = new CachingObjectStore(_inner, afterGc);
            Assert.NotNull(await store.StatAsync(name, CancellationToken.None));
            Assert.Equal(1, _inner.Stats);
        }

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(CachePath));
    }

    [Fact]
    public async Task Invalidate_makes_the_next_questions_go_to_the_store()
    {
        var store = Caching();
        var (name, content) = NewChunk(3);
        await store.SaveAsync(name, content, new SaveOptions(IfAbsent: true), CancellationToken.None);

        store.Invalidate();
        var info = await store.StatAsync(name, CancellationToken.None);
        store.Invalidate();
        var again = await store.SaveAsync(name, content, new SaveOptions(IfAbsent: true), CancellationToken.None);
        store.Cache.Dispose();

        Assert.Equal(1, _inner.Stats);
        Assert.Equal(content.Length, info?.Length);
        Assert.Equal(2, _inner.Saves);
        Assert.Equal(SaveOutcome.AlreadyExists, again);
        Assert.Equal(1, File.ReadAllLines(CachePath).Length - 1);
    }

    [Fact]
    public async Task A_removed_or_vanished_chunk_is_forgotten()
    {
        var store = Caching();
        var (removed, content1) = NewChunk(4);
        var (vanished, content2) = NewChunk(5);
        await store.SaveAsync(removed, content1, new SaveOptions(IfAbsent: true), CancellationToken.None);
        await store.SaveAsync(vanished, content2, new SaveOptions(IfAbsent: true), CancellationToken.None);

        Assert.True(await store.RemoveAsync(removed, CancellationToken.None));
        await _inner.RemoveAsync(vanished, CancellationToken.None);
        await Assert.ThrowsAsync<ObjectNotFoundException>(async () => await store.LoadAsync(vanished, 0, new byte[10], CancellationToken.None));

        Assert.Null(await store.StatAsync(removed, CancellationToken.None));
        Assert.Null(await store.StatAsync(vanished, CancellationToken.None));
        Assert.Equal(2, _inner.Stats);
        Assert.Equal(0, store.Cache.Count);
    }

    [Fact]
    public async Task A_chunk_listing_teaches_the_cache_and_other_kinds_always_ask_the_store()
    {
        var store = Caching();
        var (name, content) = NewChunk(6);
        var manifest = new ObjectName(ObjectKind.Snapshot, "vm/100/2026-12-06T10:00:00Z/manifest.json");
        await _inner.SaveAsync(name, content, default, CancellationToken.None);
        await _inner.SaveAsync(manifest, new byte[] { 1 }, default, CancellationToken.None);

        await foreach (var _ in store.ListAsync(ObjectKind.Chunk, CancellationToken.None))
        {
        }

        await store.StatAsync(name, CancellationToken.None);
        await store.StatAsync(manifest, CancellationToken.None);
        await store.StatAsync(manifest, CancellationToken.None);
        var saved = await store.SaveAsync(manifest, new byte[] { 2 }, new SaveOptions(IfAbsent: true), CancellationToken.None);

        Assert.Equal(2, _inner.Stats);
        Assert.Equal(SaveOutcome.AlreadyExists, saved);
        Assert.Equal(3, _inner.Saves);
    }

    [Fact]
    public async Task A_torn_last_line_is_skipped_and_a_foreign_file_is_dropped()
    {
        var (name, content) = NewChunk(7);
        Directory.CreateDirectory(Path.GetDirectoryName(CachePath)!);
        await File.WriteAllTextAsync(CachePath, $"engine-known-chunks 1 gc-1\n{name.Name} {content.Length} 1765000000\nabcdef 12");

        var (next, nextContent) = NewChunk(8);
        using (var cache = new KnownObjectCache(CachePath, "gc-1"))
        {
            Assert.Equal(1, cache.Count);
            Assert.True(cache.TryGet(name, out var info));
            Assert.Equal(content.Length, info.Length);
            cache.Add(new ObjectInfo(next, nextContent.Length, DateTimeOffset.UtcNow));
        }

        using (var reopened = new KnownObjectCache(CachePath, "gc-1"))
        {
            Assert.Equal(2, reopened.Count);
            Assert.True(reopened.TryGet(next, out _));
        }

        await File.WriteAllTextAsync(CachePath, "not a cache\n");
        using (var cache = new KnownObjectCache(CachePath, "gc-1"))
        {
            Assert.Equal(0, cache.Count);
        }

        Assert.Equal("engine-known-chunks 1 gc-1", File.ReadAllLines(CachePath).Single());
    }
}
