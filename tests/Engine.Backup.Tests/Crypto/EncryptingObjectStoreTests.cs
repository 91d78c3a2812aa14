using System.Security.Cryptography;
using System.Text;
using Engine.Backup.Repository.Crypto;
using Engine.Backup.Repository.Storage;

namespace Engine.Backup.Tests.Crypto;

/// <summary>
/// The decorator over a store that keeps exactly the bytes it is given: what reaches the store is ciphertext (no
/// plaintext, no disk name), what comes back is the plaintext, and tampering with the stored bytes is caught.
/// </summary>
public sealed class EncryptingObjectStoreTests
{
    private static readonly ObjectName Chunk = new(ObjectKind.Chunk, "ab" + new string('c', 62));
    private static readonly ObjectName OtherChunk = new(ObjectKind.Chunk, "ab" + new string('d', 62));
    private static readonly ObjectName Manifest = new(ObjectKind.Snapshot, "vm/100/2026-12-06T10:00:00Z/manifest.json");

    [Fact]
    public async Task Objects_round_trip_whole_and_by_range_with_plaintext_lengths()
    {
        await using var encrypted = new Encrypted();
        var (key, inner, store) = (encrypted.Key, encrypted.Inner, encrypted.Store);
        var content = RandomNumberGenerator.GetBytes(1 << 20);

        Assert.Equal(SaveOutcome.Written, await store.SaveAsync(Chunk, content, new SaveOptions(IfAbsent: true), default));
        Assert.Equal(SaveOutcome.AlreadyExists, await store.SaveAsync(Chunk, content, new SaveOptions(IfAbsent: true), default));
        var whole = new byte[content.Length + 100];
        var read = await store.LoadAsync(Chunk, 0, whole, default);
        var range = new byte[1000];
        var rangeRead = await store.LoadAsync(Chunk, 5000, range, default);
        var tail = await store.LoadAsync(Chunk, content.Length - 10, new byte[1000], default);
        var past = await store.LoadAsync(Chunk, content.Length, new byte[1000], default);
        var info = await store.StatAsync(Chunk, default);
        var listed = await store.ListAsync(ObjectKind.Chunk, default).ToListAsync();

        Assert.Equal(content.Length, read);
        Assert.Equal(content, whole[..read]);
        Assert.Equal(1000, rangeRead);
        Assert.Equal(content[5000..6000], range);
        Assert.Equal((10, 0), (tail, past));
        Assert.Equal(content.Length + ObjectCipher.Overhead, inner.Objects[Chunk.Key].Length);
        Assert.Equal(content.Length, info!.Length);
        Assert.Equal(content.Length, Assert.Single(listed).Length);
        Assert.Null(await store.StatAsync(OtherChunk, default));
        await Assert.ThrowsAsync<ObjectNotFoundException>(async () => await store.LoadAsync(OtherChunk, 0, whole, default));
    }

    [Fact]
    public async Task The_store_sees_neither_the_data_nor_the_disk_names_and_the_config_stays_readable()
    {
        await using var encrypted = new Encrypted();
        var (key, inner, store) = (encrypted.Key, encrypted.Inner, encrypted.Store);
        var data = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("SECRET-GUEST-DATA ", 1000)));
        var manifest = Encoding.UTF8.GetBytes("{\"id\":\"vm/100/2026-12-06T10:00:00Z\",\"devices\":[{\"name\":\"drive-scsi0-payroll\",\"size\":1048576}]}");
        var config = Encoding.UTF8.GetBytes($"{{\"version\":2,\"encryption\":{{\"keyId\":\"{key.Id}\"}}}}");

        await store.SaveAsync(Chunk, data, default, default);
        await store.SaveAsync(Manifest, manifest, default, default);
        await store.SaveAsync(ObjectName.Config, config, default, default);

        var stored = inner.Objects[Chunk.Key].Concat(inner.Objects[Manifest.Key]).ToArray();
        Assert.Equal(-1, stored.AsSpan().IndexOf("SECRET-GUEST"u8));
        Assert.Equal(-1, stored.AsSpan().IndexOf("drive-scsi0-payroll"u8));
        Assert.Equal(-1, stored.AsSpan().IndexOf("scsi0"u8));
        Assert.Equal(config, inner.Objects["config"]);
        var back = new byte[manifest.Length];
        Assert.Equal(manifest.Length, await store.LoadAsync(Manifest, 0, back, default));
        Assert.Equal(manifest, back);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    [InlineData(100)]
    [InlineData(-1)]
    public async Task A_flipped_stored_byte_fails_the_load_naming_store_and_key(int position)
    {
        await using var encrypted = new Encrypted();
        var (key, inner, store) = (encrypted.Key, encrypted.Inner, encrypted.Store);
        await store.SaveAsync(Chunk, RandomNumberGenerator.GetBytes(4096), default, default);
        var stored = inner.Objects[Chunk.Key];
        stored[position < 0 ? stored.Length + position : position] ^= 0x80;

        var e = await Assert.ThrowsAsync<ObjectAuthenticationException>(async () => await store.LoadAsync(Chunk, 0, new byte[4096], default));

        Assert.StartsWith($"mem://test/{Chunk.Key}: ", e.Message, StringComparison.Ordinal);
        Assert.Contains("tampered", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Two_objects_swapped_in_the_store_fail_to_load()
    {
        await using var encrypted = new Encrypted();
        var (key, inner, store) = (encrypted.Key, encrypted.Inner, encrypted.Store);
        await store.SaveAsync(Chunk, RandomNumberGenerator.GetBytes(4096), default, default);
        await store.SaveAsync(OtherChunk, RandomNumberGenerator.GetBytes(4096), default, default);
        (inner.Objects[Chunk.Key], inner.Objects[OtherChunk.Key]) = (inner.Objects[OtherChunk.Key], inner.Objects[Chunk.Key]);

        var e = await Assert.ThrowsAsync<ObjectAuthenticationException>(async () => await store.LoadAsync(Chunk, 0, new byte[4096], default));

        Assert.Equal($"mem://test/{Chunk.Key}: ciphertext does not authenticate: tampered, or the wrong key", e.Message);
    }

    [Fact]
    public async Task Another_key_cannot_load_the_objects()
    {
        using var key = RepositoryKey.Generate();
        using var wrong = RepositoryKey.Generate();
        using var cipher = key.CreateObjectCipher();
        using var wrongCipher = wrong.CreateObjectCipher();
        var inner = new InMemoryObjectStore();
        await new EncryptingObjectStore(inner, cipher).SaveAsync(Manifest, "{}"u8.ToArray(), default, default);

        var e = await Assert.ThrowsAsync<ObjectAuthenticationException>(async () => await new EncryptingObjectStore(inner, wrongCipher).LoadAsync(Manifest, 0, new byte[2], default));

        Assert.Equal($"mem://test/{Manifest.Key}: ciphertext does not authenticate: tampered, or the wrong key", e.Message);
    }

    /// <summary>An encrypting store under a fresh key over an in-memory store whose bytes a test can read and change.</summary>
    private sealed class Encrypted : IAsyncDisposable
    {
        private readonly ObjectCipher _cipher;

        public Encrypted()
        {
            _cipher = Key.CreateObjectCipher();
            Store = new EncryptingObjectStore(Inner, _cipher);
        }

        public RepositoryKey Key { get; } = RepositoryKey.Generate();

        public InMemoryObjectStore Inner { get; } = new();

        public EncryptingObjectStore Store { get; }

        public async ValueTask DisposeAsync()
        {
            await Store.DisposeAsync();
            _cipher.Dispose();
            Key.Dispose();
        }
    }
}
