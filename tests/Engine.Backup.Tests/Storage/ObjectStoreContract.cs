using System.Security.Cryptography;
using Engine.Backup.Repository.Storage;

namespace Engine.Backup.Tests.Storage;

/// <summary>
/// What every <see cref="IObjectStore"/> backend must do, run against each one (the local directory here, S3 on a
/// real gateway in its own subclass): a backend's tests derive from this class and supply a fresh, empty store and a
/// way to put a raw key beside the objects. Self-contained on purpose: nothing here knows a backend.
/// </summary>
public abstract class ObjectStoreContract
{
    /// <summary>A fresh, empty store; each test disposes the one it gets.</summary>
    protected abstract Task<IObjectStore> CreateStoreAsync();

    /// <summary>Puts <paramref name="content"/> at <paramref name="key"/> (relative to the store) bypassing the store, as a stray file or another tool would.</summary>
    protected abstract Task PutRawAsync(IObjectStore store, string key, byte[] content);

    protected static ObjectName Chunk(byte[] content) => new(ObjectKind.Chunk, Convert.ToHexStringLower(SHA256.HashData(content)));

    protected static ObjectName Snapshot(string name) => new(ObjectKind.Snapshot, name);

    protected static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    protected static async Task<byte[]> LoadAllAsync(IObjectStore store, ObjectName name)
    {
        var info = await store.StatAsync(name, CancellationToken.None) ?? throw new InvalidOperationException($"{name} is missing");
        var buffer = new byte[info.Length];
        var read = await store.LoadAsync(name, 0, buffer, CancellationToken.None);
        Assert.Equal(buffer.Length, read);
        return buffer;
    }

    protected static async Task<List<ObjectInfo>> ListAllAsync(IObjectStore store, ObjectKind kind)
    {
        var list = new List<ObjectInfo>();
        await foreach (var info in store.ListAsync(kind, CancellationToken.None))
        {
            list.Add(info);
        }

        return list;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(4097)]
    [InlineData(1 << 20)]
    public async Task A_saved_object_loads_back_byte_exact_and_stats_its_length(int length)
    {
        await using var store = await CreateStoreAsync();
        var content = RandomBytes(length, length);
        var name = Snapshot($"vm/100/2026-12-06T10:00:00Z/drive-scsi{length}.index");

        var outcome = await store.SaveAsync(name, content, default, CancellationToken.None);
        var info = await store.StatAsync(name, CancellationToken.None);

        Assert.Equal(SaveOutcome.Written, outcome);
        Assert.NotNull(info);
        Assert.Equal(name, info.Name);
        Assert.Equal(length, info.Length);
        Assert.InRange(info.LastModified, DateTimeOffset.UtcNow.AddMinutes(-10), DateTimeOffset.UtcNow.AddMinutes(10));
        Assert.Equal(content, await LoadAllAsync(store, name));
    }

    [Fact]
    public async Task An_object_larger_than_the_largest_chunk_round_trips()
    {
        await using var store = await CreateStoreAsync();
        var content = RandomBytes((33 << 20) + 5, 33);
        var name = Snapshot("vm/100/2026-12-06T10:00:00Z/archive.catalog");

        await store.SaveAsync(name, content, default, CancellationToken.None);

        Assert.Equal(SHA256.HashData(content), SHA256.HashData(await LoadAllAsync(store, name)));
    }

    [Fact]
    public async Task Ranged_loads_read_inside_stop_at_the_end_and_read_nothing_past_it()
    {
        await using var store = await CreateStoreAsync();
        var content = RandomBytes(10_000, 7);
        var name = Chunk(content);
        await store.SaveAsync(name, content, default, CancellationToken.None);

        var inside = new byte[1000];
        var tail = new byte[1000];
        var readInside = await store.LoadAsync(name, 4321, inside, CancellationToken.None);
        var readTail = await store.LoadAsync(name, 9_500, tail, CancellationToken.None);
        var readAtEnd = await store.LoadAsync(name, 10_000, new byte[10], CancellationToken.None);
        var readPastEnd = await store.LoadAsync(name, 20_000, new byte[10], CancellationToken.None);
        var readNothing = await store.LoadAsync(name, 0, Memory<byte>.Empty, CancellationToken.None);

        Assert.Equal(1000, readInside);
        Assert.Equal(content[4321..5321], inside);
        Assert.Equal(500, readTail);
        Assert.Equal(content[9_500..], tail[..500]);
        Assert.Equal(0, readAtEnd);
        Assert.Equal(0, readPastEnd);
        Assert.Equal(0, readNothing);
    }

    [Fact]
    public async Task A_negative_offset_is_refused()
    {
        await using var store = await CreateStoreAsync();
        var content = RandomBytes(10, 1);
        await store.SaveAsync(Chunk(content), content, default, CancellationToken.None);

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await store.LoadAsync(Chunk(content), -1, new byte[1], CancellationToken.None));
    }

    [Fact]
    public async Task Save_if_absent_writes_once_and_then_leaves_the_object_as_it_is()
    {
        await using var store = await CreateStoreAsync();
        var name = new ObjectName(ObjectKind.Lock, "gc-host1");
        byte[] first = [1, 2, 3], second = [4, 5, 6, 7];

        var one = await store.SaveAsync(name, first, new SaveOptions(IfAbsent: true), CancellationToken.None);
        var two = await store.SaveAsync(name, second, new SaveOptions(IfAbsent: true), CancellationToken.None);

        Assert.Equal(SaveOutcome.Written, one);
        Assert.Equal(SaveOutcome.AlreadyExists, two);
        Assert.Equal(first, await LoadAllAsync(store, name));
    }

    [Fact]
    public async Task Save_without_if_absent_replaces_the_object_whole()
    {
        await using var store = await CreateStoreAsync();
        var name = new ObjectName(ObjectKind.Key, "default");
        var longer = RandomBytes(5000, 1);
        var shorter = RandomBytes(10, 2);

        await store.SaveAsync(name, longer, default, CancellationToken.None);
        var outcome = await store.SaveAsync(name, shorter, default, CancellationToken.None);

        Assert.Equal(SaveOutcome.Written, outcome);
        Assert.Equal(shorter, await LoadAllAsync(store, name));
    }

    [Fact]
    public async Task Stat_of_a_missing_object_is_null_and_its_load_names_the_key()
    {
        await using var store = await CreateStoreAsync();
        var name = Snapshot("vm/100/2026-12-06T10:00:00Z/manifest.json");

        var info = await store.StatAsync(name, CancellationToken.None);
        var e = await Assert.ThrowsAsync<ObjectNotFoundException>(async () => await store.LoadAsync(name, 0, new byte[10], CancellationToken.None));

        Assert.Null(info);
        Assert.Equal(name.Key, e.Key);
        Assert.Equal(store.Location, e.Location);
        Assert.Contains(name.Key, e.Message, StringComparison.Ordinal);
        Assert.False(e.IsTransient);
    }

    [Fact]
    public async Task A_missing_chunk_folder_is_a_missing_object_too()
    {
        await using var store = await CreateStoreAsync();
        var name = Chunk([9, 9, 9]);

        Assert.Null(await store.StatAsync(name, CancellationToken.None));
        await Assert.ThrowsAsync<ObjectNotFoundException>(async () => await store.LoadAsync(name, 0, new byte[3], CancellationToken.None));
        Assert.False(await store.RemoveAsync(name, CancellationToken.None));
        Assert.Empty(await ListAllAsync(store, ObjectKind.Chunk));
    }

    [Fact]
    public async Task Each_kind_lists_only_its_own_objects_and_their_names_round_trip()
    {
        await using var store = await CreateStoreAsync();
        var chunks = Enumerable.Range(0, 5).Select(i => RandomBytes(100 + i, i)).ToArray();
        foreach (var chunk in chunks)
        {
            await store.SaveAsync(Chunk(chunk), chunk, new SaveOptions(IfAbsent: true), CancellationToken.None);
        }

        ObjectName[] snapshots = [Snapshot("vm/100/2026-12-06T10:00:00Z/manifest.json"), Snapshot("vm/100/2026-12-06T10:00:00Z/drive-scsi0.index"), Snapshot("ct/200/2026-12-05T06:30:00Z/manifest.json")];
        foreach (var snapshot in snapshots)
        {
            await store.SaveAsync(snapshot, new byte[] { 1, 2 }, default, CancellationToken.None);
        }

        await store.SaveAsync(new ObjectName(ObjectKind.Lock, "writer-1"), new byte[] { 3 }, default, CancellationToken.None);
        await store.SaveAsync(new ObjectName(ObjectKind.Key, "default"), new byte[] { 4 }, default, CancellationToken.None);
        await store.SaveAsync(ObjectName.Config, new byte[] { 5, 6, 7 }, default, CancellationToken.None);

        var listedChunks = await ListAllAsync(store, ObjectKind.Chunk);
        var listedSnapshots = await ListAllAsync(store, ObjectKind.Snapshot);
        var locks = await ListAllAsync(store, ObjectKind.Lock);
        var keys = await ListAllAsync(store, ObjectKind.Key);
        var config = await ListAllAsync(store, ObjectKind.Config);

        Assert.Equal(chunks.Select(c => Chunk(c).Key).Order(), listedChunks.Select(i => i.Name.Key).Order());
        Assert.All(listedChunks, i => Assert.Equal(chunks.Single(c => Chunk(c) == i.Name).Length, i.Length));
        Assert.Equal(snapshots.Select(s => s.Name).Order(), listedSnapshots.Select(i => i.Name.Name).Order());
        Assert.Equal("writer-1", Assert.Single(locks).Name.Name);
        Assert.Equal("default", Assert.Single(keys).Name.Name);
        var configInfo = Assert.Single(config);
        Assert.Equal(ObjectName.Config, configInfo.Name);
        Assert.Equal(3, configInfo.Length);
    }

    [Fact]
    public async Task Listings_leave_out_keys_that_are_not_names_of_the_kind()
    {
        await using var store = await CreateStoreAsync();
        var chunk = RandomBytes(64, 1);
        var name = Chunk(chunk);
        await store.SaveAsync(name, chunk, default, CancellationToken.None);
        await store.SaveAsync(Snapshot("vm/100/2026-12-06T10:00:00Z/manifest.json"), new byte[] { 1 }, default, CancellationToken.None);

        // A chunk in the wrong fan-out folder, one without a fan-out folder, the chunk store's lock file, a snapshot
        // key with a character no name has, and a file beside the configuration.
        var misplaced = "chunks/00/" + name.Name;
        await PutRawAsync(store, misplaced, chunk);
        await PutRawAsync(store, "chunks/" + name.Name, chunk);
        await PutRawAsync(store, "chunks/.lock", []);
        await PutRawAsync(store, "snapshots/vm/100/bad name", [1]);
        await PutRawAsync(store, "config.old", [1]);

        var chunks = await ListAllAsync(store, ObjectKind.Chunk);
        var snapshots = await ListAllAsync(store, ObjectKind.Snapshot);
        var config = await ListAllAsync(store, ObjectKind.Config);

        Assert.Equal(name, Assert.Single(chunks).Name);
        Assert.Equal("vm/100/2026-12-06T10:00:00Z/manifest.json", Assert.Single(snapshots).Name.Name);
        Assert.Empty(config);
    }

    [Fact]
    public async Task Remove_deletes_once_then_answers_false()
    {
        await using var store = await CreateStoreAsync();
        var content = RandomBytes(100, 3);
        var name = Chunk(content);
        await store.SaveAsync(name, content, default, CancellationToken.None);

        var first = await store.RemoveAsync(name, CancellationToken.None);
        var second = await store.RemoveAsync(name, CancellationToken.None);

        Assert.True(first);
        Assert.False(second);
        Assert.Null(await store.StatAsync(name, CancellationToken.None));
        await Assert.ThrowsAsync<ObjectNotFoundException>(async () => await store.LoadAsync(name, 0, new byte[1], CancellationToken.None));
        Assert.Empty(await ListAllAsync(store, ObjectKind.Chunk));
    }

    [Fact]
    public async Task Many_concurrent_saves_of_one_chunk_all_succeed_and_leave_one_content()
    {
        await using var store = await CreateStoreAsync();
        var content = RandomBytes(256 << 10, 11);
        var name = Chunk(content);

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ =>
            Task.Run(async () => await store.SaveAsync(name, content, new SaveOptions(IfAbsent: true), CancellationToken.None))));
        var overwrites = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ =>
            Task.Run(async () => await store.SaveAsync(name, content, default, CancellationToken.None))));

        if (store.Capabilities.HasFlag(ObjectStoreCapabilities.AtomicIfAbsent))
        {
            Assert.Single(outcomes, o => o == SaveOutcome.Written);
        }

        Assert.All(overwrites, o => Assert.Equal(SaveOutcome.Written, o));
        Assert.Equal(content, await LoadAllAsync(store, name));
        Assert.Single(await ListAllAsync(store, ObjectKind.Chunk));
    }

    [Fact]
    public async Task A_cancelled_call_does_nothing_and_throws()
    {
        await using var store = await CreateStoreAsync();
        var content = RandomBytes(100, 5);
        var name = Chunk(content);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.SaveAsync(name, content, default, cancelled.Token));
        Assert.Null(await store.StatAsync(name, CancellationToken.None));
        await store.SaveAsync(name, content, default, CancellationToken.None);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.LoadAsync(name, 0, new byte[100], cancelled.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.StatAsync(name, cancelled.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.RemoveAsync(name, cancelled.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in store.ListAsync(ObjectKind.Chunk, cancelled.Token))
            {
            }
        });
        Assert.NotNull(await store.StatAsync(name, CancellationToken.None));
    }

    [Fact]
    public async Task Retention_works_exactly_when_the_store_has_object_lock()
    {
        await using var store = await CreateStoreAsync();
        var content = RandomBytes(10, 1);
        var name = Chunk(content);
        var until = DateTimeOffset.UtcNow.AddDays(1);

        if (store.Capabilities.HasFlag(ObjectStoreCapabilities.ObjectLock))
        {
            Assert.Equal(SaveOutcome.Written, await store.SaveAsync(name, content, new SaveOptions(RetainUntil: until), CancellationToken.None));
            await store.ExtendRetentionAsync(name, until.AddDays(1), ObjectLockMode.Compliance, CancellationToken.None);
            Assert.Equal(content, await LoadAllAsync(store, name));
            return;
        }

        await Assert.ThrowsAsync<NotSupportedException>(async () => await store.SaveAsync(name, content, new SaveOptions(RetainUntil: until), CancellationToken.None));
        Assert.Null(await store.StatAsync(name, CancellationToken.None));
        await store.SaveAsync(name, content, default, CancellationToken.None);
        await Assert.ThrowsAsync<NotSupportedException>(async () => await store.ExtendRetentionAsync(name, until, ObjectLockMode.Compliance, CancellationToken.None));
    }
}
