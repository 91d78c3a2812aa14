using System.Buffers.Binary;
using Engine.Backup.Repository.ChunkObjects;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Storage;
using Engine.Backup.Repository.Storage.Cache;
using Engine.Backup.Tests.Storage;

namespace Engine.Backup.Tests.ChunkObjects;

/// <summary>
/// What <see cref="ObjectChunkStore"/> must do over every backend (the local directory and S3 on a real gateway, in the
/// subclasses): round trips, dedup, damage and swaps named by the object's key, concurrency. Stored bytes are damaged
/// through the backend itself (load, change, save over), so nothing here knows where a backend keeps its objects.
/// </summary>
public abstract class ObjectChunkStoreContract
{
    private const int Level = 3;
    private static readonly CancellationToken None = CancellationToken.None;

    /// <summary>A fresh, empty backend; each test disposes the one it gets.</summary>
    protected abstract Task<IObjectStore> CreateBackendAsync();

    protected static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Half random, half a repeated pattern: zstd keeps it (about half the size).</summary>
    protected static byte[] HalfCompressible(int length, int seed)
    {
        var bytes = RandomBytes(length, seed);
        for (var i = 0; i < length; i += 8192)
        {
            bytes.AsSpan(i, Math.Min(4096, length - i)).Fill((byte)(seed + i / 8192));
        }

        return bytes;
    }

    protected static async Task<byte[]> RawAsync(IObjectStore backend, ChunkDigest digest)
    {
        var name = ObjectChunkStore.NameOf(digest);
        var info = await backend.StatAsync(name, None) ?? throw new InvalidOperationException($"{name} is missing");
        var bytes = new byte[info.Length];
        Assert.Equal(bytes.Length, await backend.LoadAsync(name, 0, bytes, None));
        return bytes;
    }

    [Theory]
    [InlineData(1 << 20, false, 0)]
    [InlineData(4 << 20, true, 1)]
    [InlineData(1, false, 0)]
    [InlineData(100_000, true, 1)]
    public async Task Raw_and_zstd_chunks_round_trip_in_the_chunk_file_format(int length, bool compressible, byte encoding)
    {
        await using var backend = await CreateBackendAsync();
        var chunks = new ObjectChunkStore(backend, Level);
        var data = compressible ? HalfCompressible(length, length) : RandomBytes(length, length);
        var digest = ChunkDigest.Compute(data);

        var put = await chunks.PutAsync(digest, data, None);

        var raw = await RawAsync(backend, digest);
        Assert.True(put.Stored);
        Assert.Equal(raw.Length, put.StoredBytes);
        Assert.Equal("ENGCHUNK"u8.ToArray(), raw[..8]);
        Assert.Equal(encoding, raw[10]);
        Assert.Equal(length, BinaryPrimitives.ReadInt32LittleEndian(raw.AsSpan(12)));
        var back = new byte[4 << 20];
        var read = await chunks.ReadAsync(digest, PayloadChecksumOf(raw), back, None);
        Assert.Equal(data, back[..read]);
        Assert.Equal(ChunkCheck.Ok, await chunks.VerifyAsync(digest, rehash: true, None));
        Assert.True(await chunks.ExistsAsync(digest, None));
    }

    [Fact]
    public async Task A_second_put_of_a_chunk_writes_nothing_and_the_zero_chunk_is_never_stored()
    {
        await using var backend = await CreateBackendAsync();
        var chunks = new ObjectChunkStore(backend, Level);
        var data = HalfCompressible(300_000, 2);
        var digest = ChunkDigest.Compute(data);

        var first = await chunks.PutAsync(digest, data, None);
        var second = await chunks.PutAsync(digest, data, None);
        var zero = await chunks.PutAsync(ChunkDigest.Zero, new byte[4096], None);

        Assert.True(first.Stored);
        Assert.Equal(new ChunkPutResult(false, 0), second);
        Assert.Equal(new ChunkPutResult(false, 0), zero);
        var listed = Assert.Single(await ListAsync(chunks));
        Assert.Equal(digest, listed.Digest);
        Assert.Equal(first.StoredBytes, listed.StoredLength);
    }

    [Fact]
    public async Task With_the_known_chunk_cache_a_second_put_sends_no_request()
    {
        await using var backend = await CreateBackendAsync();
        var counted = new InstrumentedObjectStore(backend);
        await using var cached = new CachingObjectStore(counted, new KnownObjectCache(null, "0"));
        var chunks = new ObjectChunkStore(cached, Level);
        var data = RandomBytes(200_000, 3);
        var digest = ChunkDigest.Compute(data);

        Assert.True((await chunks.PutAsync(digest, data, None)).Stored);
        var callsAfterFirst = counted.Calls;
        var second = await chunks.PutAsync(digest, data, None);
        var exists = await chunks.ExistsAsync(digest, None);

        Assert.False(second.Stored);
        Assert.True(exists);
        Assert.Equal(callsAfterFirst, counted.Calls);
        Assert.Equal(1, counted.Saves);
    }

    [Fact]
    public async Task A_flipped_stored_byte_is_a_corrupt_chunk_naming_the_key()
    {
        await using var backend = await CreateBackendAsync();
        var chunks = new ObjectChunkStore(backend, Level);
        var data = HalfCompressible(500_000, 4);
        var digest = ChunkDigest.Compute(data);
        await chunks.PutAsync(digest, data, None);
        var raw = await RawAsync(backend, digest);
        raw[ChunkHeader.Size + 1000] ^= 0x40;
        await backend.SaveAsync(ObjectChunkStore.NameOf(digest), raw, default, None);

        var e = await Assert.ThrowsAsync<ChunkCorruptException>(async () => await chunks.ReadAsync(digest, PayloadChecksumOf(raw), new byte[1 << 20], None));

        Assert.Equal(ChunkCheck.ChecksumMismatch, e.Check);
        Assert.Contains($"{backend.Location.TrimEnd('/')}/chunks/{digest.ToString()[..2]}/{digest}", e.Message, StringComparison.Ordinal);
        Assert.Equal(ChunkCheck.ChecksumMismatch, await chunks.VerifyAsync(digest, rehash: false, None));
    }

    [Fact]
    public async Task A_missing_chunk_is_named_by_its_key()
    {
        await using var backend = await CreateBackendAsync();
        var chunks = new ObjectChunkStore(backend, Level);
        var digest = ChunkDigest.Compute("never stored"u8);

        var e = await Assert.ThrowsAsync<ChunkMissingException>(async () => await chunks.ReadAsync(digest, ChunkStore.UnknownPayloadChecksum, new byte[4096], None));

        Assert.Equal(digest, e.Digest);
        Assert.Contains($"{backend.Location.TrimEnd('/')}/chunks/{digest.ToString()[..2]}/{digest}", e.Message, StringComparison.Ordinal);
        Assert.Equal(ChunkCheck.Missing, await chunks.VerifyAsync(digest, rehash: false, None));
        Assert.False(await chunks.ExistsAsync(digest, None));
        Assert.False(await chunks.RemoveAsync(digest, None));
    }

    [Fact]
    public async Task A_chunk_object_swapped_for_another_well_formed_one_is_caught_by_the_payload_checksum()
    {
        await using var backend = await CreateBackendAsync();
        var chunks = new ObjectChunkStore(backend, Level);
        var a = RandomBytes(100_000, 5);
        var b = RandomBytes(100_000, 6);
        var digestA = ChunkDigest.Compute(a);
        var digestB = ChunkDigest.Compute(b);
        await chunks.PutAsync(digestA, a, None);
        await chunks.PutAsync(digestB, b, None);
        var checksumB = PayloadChecksumOf(await RawAsync(backend, digestB));

        await backend.SaveAsync(ObjectChunkStore.NameOf(digestB), await RawAsync(backend, digestA), default, None);

        var e = await Assert.ThrowsAsync<ChunkCorruptException>(async () => await chunks.ReadAsync(digestB, checksumB, new byte[1 << 20], None));
        Assert.Equal(ChunkCheck.DigestMismatch, e.Check);
        Assert.Contains(digestB.ToString(), e.Message, StringComparison.Ordinal);
        Assert.Equal(ChunkCheck.Ok, await chunks.VerifyAsync(digestB, rehash: false, None));
        Assert.Equal(ChunkCheck.DigestMismatch, await chunks.VerifyAsync(digestB, rehash: false, None, checksumB));
        Assert.Equal(ChunkCheck.DigestMismatch, await chunks.VerifyAsync(digestB, rehash: true, None));
    }

    [Fact]
    public async Task Sixteen_parallel_puts_of_one_chunk_and_of_different_chunks_all_land_once()
    {
        await using var backend = await CreateBackendAsync();
        var chunks = new ObjectChunkStore(backend, Level);
        var same = HalfCompressible(1 << 20, 7);
        var sameDigest = ChunkDigest.Compute(same);
        var different = Enumerable.Range(0, 16).Select(i => HalfCompressible(256 << 10, 100 + i)).ToArray();

        var sameResults = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(async () => await chunks.PutAsync(sameDigest, same, None))));
        var differentResults = await Task.WhenAll(different.Select(d => Task.Run(async () => await chunks.PutAsync(ChunkDigest.Compute(d), d, None))));

        Assert.Contains(sameResults, r => r.Stored);
        if (backend.Capabilities.HasFlag(ObjectStoreCapabilities.AtomicIfAbsent))
        {
            Assert.Single(sameResults, r => r.Stored);
        }

        Assert.All(differentResults, r => Assert.True(r.Stored));
        Assert.Equal(17, (await ListAsync(chunks)).Count);
        var reads = await Task.WhenAll(different.Append(same).Select(d => Task.Run(async () =>
        {
            var back = new byte[d.Length];
            var read = await chunks.ReadAsync(ChunkDigest.Compute(d), ChunkStore.UnknownPayloadChecksum, back, None);
            return back.AsSpan(0, read).SequenceEqual(d);
        })));
        Assert.All(reads, Assert.True);
    }

    [Fact]
    public async Task A_destination_smaller_than_the_chunk_is_refused_and_removal_deletes_once()
    {
        await using var backend = await CreateBackendAsync();
        var chunks = new ObjectChunkStore(backend, Level);
        var data = RandomBytes(70_000, 8);
        var digest = ChunkDigest.Compute(data);
        await chunks.PutAsync(digest, data, None);

        await Assert.ThrowsAsync<ArgumentException>(async () => await chunks.ReadAsync(digest, ChunkStore.UnknownPayloadChecksum, new byte[60_000], None));

        Assert.True(await chunks.RemoveAsync(digest, None));
        Assert.False(await chunks.RemoveAsync(digest, None));
        Assert.Empty(await ListAsync(chunks));
    }

    [Fact]
    public async Task A_stored_payload_larger_than_its_content_is_loaded_whole_and_judged_by_its_payload()
    {
        await using var backend = await CreateBackendAsync();
        var chunks = new ObjectChunkStore(backend, Level);
        var digest = ChunkDigest.Compute("hostile"u8);
        // A well-formed header for 100 bytes of content in a 5000-byte "zstd" payload that is no zstd: the first,
        // destination-sized load cannot hold it, the second must, and the verdict is the payload's, not "truncated".
        var payload = RandomBytes(5000, 9);
        var raw = new byte[ChunkHeader.Size + payload.Length];
        new ChunkHeader(ChunkEncoding.Zstd, 100, payload.Length, System.IO.Hashing.XxHash3.HashToUInt64(payload)).Write(raw);
        payload.CopyTo(raw, ChunkHeader.Size);
        await backend.SaveAsync(ObjectChunkStore.NameOf(digest), raw, default, None);

        var e = await Assert.ThrowsAsync<ChunkCorruptException>(async () => await chunks.ReadAsync(digest, ChunkStore.UnknownPayloadChecksum, new byte[100], None));

        Assert.Equal(ChunkCheck.BadPayload, e.Check);
        Assert.Equal(ChunkCheck.BadPayload, await chunks.VerifyAsync(digest, rehash: true, None));
    }

    protected static ulong PayloadChecksumOf(byte[] raw) => BinaryPrimitives.ReadUInt64LittleEndian(raw.AsSpan(24));

    private protected static async Task<List<ChunkObjectInfo>> ListAsync(ObjectChunkStore chunks)
    {
        var list = new List<ChunkObjectInfo>();
        await foreach (var info in chunks.ListAsync(None))
        {
            list.Add(info);
        }

        return list;
    }
}
