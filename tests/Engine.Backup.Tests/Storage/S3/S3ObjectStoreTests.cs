using Engine.Backup.Repository.Storage;
using Engine.Backup.S3;

namespace Engine.Backup.Tests.Storage.S3;

/// <summary>The five operations of <see cref="IObjectStore"/> on Ceph radosgw: the contract every backend passes, and S3's own cases.</summary>
[Collection(CephGateway.Collection)]
public sealed class S3ObjectStoreTests(CephGateway gateway) : ObjectStoreContract
{
    /// <summary>The contract wants an empty store: a fresh bucket without the <c>config</c> that initialising writes.</summary>
    protected override async Task<IObjectStore> CreateStoreAsync()
    {
        var store = await S3Stores.CreateAsync(gateway, purpose: "contract");
        Assert.True(await store.RemoveAsync(ObjectName.Config, None));
        return store;
    }

    protected override Task PutRawAsync(IObjectStore store, string key, byte[] content) =>
        S3Stores.PutRawAsync(gateway, (S3ObjectStore)store, key, content);

    private static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task Save_then_load_returns_the_same_bytes_and_stat_their_length()
    {
        await using var store = await S3Stores.CreateAsync(gateway);
        var name = S3Stores.Chunk(1);
        var content = S3Stores.Bytes(300_000, 1);

        Assert.Equal(SaveOutcome.Written, await store.SaveAsync(name, content, default, None));

        var back = new byte[content.Length + 10];
        Assert.Equal(content.Length, await store.LoadAsync(name, 0, back, None));
        Assert.Equal(content, back[..content.Length]);
        var info = await store.StatAsync(name, None);
        Assert.NotNull(info);
        Assert.Equal(content.Length, info.Length);
        Assert.Equal(name, info.Name);
        Assert.InRange(info.LastModified, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(5));
    }

    [Fact]
    public async Task Save_from_memory_that_is_no_array_stores_the_same_bytes()
    {
        await using var store = await S3Stores.CreateAsync(gateway);
        var name = new ObjectName(ObjectKind.Snapshot, "vm/100/2026-12-06T10:00:00Z/manifest.json");
        var content = S3Stores.Bytes(70_000, 2);
        using var native = new NativeMemory(content);

        await store.SaveAsync(name, native.Memory, default, None);

        var back = new byte[content.Length];
        Assert.Equal(content.Length, await store.LoadAsync(name, 0, back, None));
        Assert.Equal(content, back);
    }

    [Fact]
    public async Task Ranged_load_reads_from_the_offset_and_stops_at_the_end()
    {
        await using var store = await S3Stores.CreateAsync(gateway);
        var name = S3Stores.Chunk(3);
        var content = S3Stores.Bytes(10_000, 3);
        await store.SaveAsync(name, content, default, None);

        var middle = new byte[1000];
        Assert.Equal(1000, await store.LoadAsync(name, 4321, middle, None));
        Assert.Equal(content.AsSpan(4321, 1000).ToArray(), middle);

        var tail = new byte[1000];
        Assert.Equal(500, await store.LoadAsync(name, 9500, tail, None));
        Assert.Equal(content.AsSpan(9500).ToArray(), tail[..500]);

        Assert.Equal(0, await store.LoadAsync(name, 10_000, tail, None));
        Assert.Equal(0, await store.LoadAsync(name, 20_000, tail, None));
    }

    [Fact]
    public async Task Load_and_stat_of_a_missing_object_say_so()
    {
        await using var store = await S3Stores.CreateAsync(gateway);
        var name = S3Stores.Chunk(4);

        Assert.Null(await store.StatAsync(name, None));
        var e = await Assert.ThrowsAsync<ObjectNotFoundException>(async () => await store.LoadAsync(name, 0, new byte[10], None));
        Assert.Contains(store.Repository.Bucket, e.Message, StringComparison.Ordinal);
        Assert.Contains(name.Key, e.Message, StringComparison.Ordinal);
        Assert.False(e.IsTransient);
    }

    [Fact]
    public async Task Save_IfAbsent_over_an_existing_object_is_refused_by_the_gateway_with_412_and_keeps_the_first()
    {
        await using var store = await S3Stores.CreateAsync(gateway);
        var name = S3Stores.Chunk(5);
        var first = S3Stores.Bytes(1000, 5);
        var second = S3Stores.Bytes(1000, 6);

        Assert.Equal(SaveOutcome.Written, await store.SaveAsync(name, first, new SaveOptions(IfAbsent: true), None));
        Assert.Equal(SaveOutcome.AlreadyExists, await store.SaveAsync(name, second, new SaveOptions(IfAbsent: true), None));

        var back = new byte[1000];
        await store.LoadAsync(name, 0, back, None);
        Assert.Equal(first, back);
        Assert.True(store.Capabilities.HasFlag(ObjectStoreCapabilities.AtomicIfAbsent));
    }

    [Fact]
    public async Task List_pages_through_more_than_a_thousand_keys_and_leaves_out_other_kinds()
    {
        await using var store = await S3Stores.CreateAsync(gateway);
        const int count = 1100;
        var expected = Enumerable.Range(0, count).Select(S3Stores.Chunk).ToList();
        await Parallel.ForEachAsync(expected, new ParallelOptions { MaxDegreeOfParallelism = 16 },
            async (name, ct) => await store.SaveAsync(name, new byte[] { (byte)name.Name[0] }, default, ct));
        await store.SaveAsync(new ObjectName(ObjectKind.Lock, "writer-1"), new byte[1], default, None);

        var listed = new List<ObjectInfo>();
        await foreach (var info in store.ListAsync(ObjectKind.Chunk, None))
        {
            listed.Add(info);
        }

        Assert.Equal(expected.Select(n => n.Name).Order(StringComparer.Ordinal), listed.Select(i => i.Name.Name).Order(StringComparer.Ordinal));
        Assert.All(listed, info => Assert.Equal(1, info.Length));
        var locks = new List<ObjectInfo>();
        await foreach (var info in store.ListAsync(ObjectKind.Lock, None))
        {
            locks.Add(info);
        }

        Assert.Equal("writer-1", Assert.Single(locks).Name.Name);
        var configs = new List<ObjectInfo>();
        await foreach (var info in store.ListAsync(ObjectKind.Config, None))
        {
            configs.Add(info);
        }

        Assert.Equal(ObjectName.Config, Assert.Single(configs).Name);
    }

    [Fact]
    public async Task Remove_deletes_once_and_then_reports_nothing_to_delete()
    {
        await using var store = await S3Stores.CreateAsync(gateway);
        var name = S3Stores.Chunk(7);
        await store.SaveAsync(name, new byte[100], default, None);

        Assert.True(await store.RemoveAsync(name, None));
        Assert.Null(await store.StatAsync(name, None));
        Assert.False(await store.RemoveAsync(name, None));
    }

    [Fact]
    public async Task Retention_on_a_bucket_without_object_lock_is_not_supported()
    {
        await using var store = await S3Stores.CreateAsync(gateway);
        Assert.False(store.Capabilities.HasFlag(ObjectStoreCapabilities.ObjectLock));

        await Assert.ThrowsAsync<NotSupportedException>(async () =>
            await store.SaveAsync(S3Stores.Chunk(8), new byte[1], new SaveOptions(RetainUntil: DateTimeOffset.UtcNow.AddDays(1)), None));
    }

    /// <summary>Unmanaged memory as <see cref="Memory{T}"/>: content the store cannot wrap as an array.</summary>
    private sealed unsafe class NativeMemory : System.Buffers.MemoryManager<byte>
    {
        private readonly byte* _pointer;
        private readonly int _length;

        public NativeMemory(byte[] content)
        {
            _length = content.Length;
            _pointer = (byte*)System.Runtime.InteropServices.NativeMemory.Alloc((nuint)_length);
            content.CopyTo(new Span<byte>(_pointer, _length));
        }

        public override Span<byte> GetSpan() => new(_pointer, _length);

        public override System.Buffers.MemoryHandle Pin(int elementIndex = 0) => new(_pointer + elementIndex);

        public override void Unpin()
        {
        }

        protected override void Dispose(bool disposing) => System.Runtime.InteropServices.NativeMemory.Free(_pointer);
    }
}
