using System.Runtime.CompilerServices;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Crypto;
using Engine.Backup.Repository.Storage;
using Engine.Blocks.Buffers;

namespace Engine.Backup.Repository.ChunkObjects;

/// <summary>
/// A repository's chunks as objects of any <see cref="IObjectStore"/> (a local directory, an S3 bucket, either behind
/// the retry, limit, cache and encryption decorators): each chunk is one <see cref="ObjectKind.Chunk"/> object named
/// by its digest and holding the same bytes as a <see cref="ChunkStore"/> file (<see cref="ChunkFile"/>). A put is one
/// absent-only save, so a chunk already stored costs no upload and no HEAD; a read is one ranged load of the whole
/// object. Errors name the store's key (<c>LOCATION/chunks/ab/abcd…</c>). Thread-safe: every call works in a pooled
/// buffer of its own.
/// </summary>
internal sealed class ObjectChunkStore : IRepositoryChunks
{
    // Requests in flight when the synchronous callers' checks fan out (existence of every chunk a snapshot reuses).
    private const int ParallelRequests = 16;

    private readonly int _compressionLevel;
    private readonly IChunkNaming _naming;

    /// <summary>
    /// Chunks in <paramref name="store"/> (not owned), compressed at <paramref name="compressionLevel"/>, named by
    /// <paramref name="naming"/> (SHA-256 when null; an encrypted repository's keyed names otherwise), which a rehash
    /// checks against.
    /// </summary>
    public ObjectChunkStore(IObjectStore store, int compressionLevel, IChunkNaming? naming = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        Store = store;
        _compressionLevel = compressionLevel;
        _naming = naming ?? Sha256ChunkNaming.Instance;
    }

    /// <summary>The store the chunks live in.</summary>
    public IObjectStore Store { get; }

    /// <inheritdoc/>
    public string Location => string.Concat(Store.Location.TrimEnd('/'), "/", ObjectName.FolderOf(ObjectKind.Chunk));

    /// <summary>A restore keeps this many GETs ahead of a sequential reader: each costs a round trip, not a disk seek.</summary>
    public int ReadAhead => 8;

    /// <inheritdoc/>
    public string PathOf(ChunkDigest digest) => KeyOf(digest);

    /// <summary>The object a chunk is stored as.</summary>
    public static ObjectName NameOf(ChunkDigest digest) => new(ObjectKind.Chunk, digest.ToString());

    /// <summary>Where a chunk lives, for messages: the store's location and the object's key.</summary>
    public string KeyOf(ChunkDigest digest) => string.Concat(Store.Location.TrimEnd('/'), "/", NameOf(digest).Key);

    /// <summary>
    /// Stores a chunk unless an object of its name exists (the store decides, atomically where it can: S3
    /// <c>If-None-Match: *</c>). The zero digest is never stored. The caller named <paramref name="data"/> by
    /// <paramref name="digest"/>.
    /// </summary>
    public async ValueTask<ChunkPutResult> PutAsync(ChunkDigest digest, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (data.Length > ChunkFile.MaxChunkLength)
        {
            throw new ArgumentException($"chunk of {data.Length} bytes exceeds {ChunkFile.MaxChunkLength}", nameof(data));
        }

        if (digest.IsZero)
        {
            return default;
        }

        using var buffer = BufferPool.Shared.Rent(ChunkFile.EncodedBound(data.Length));
        var length = ChunkFile.Encode(data.Span, buffer.Span, _compressionLevel);
        var outcome = await Store.SaveAsync(NameOf(digest), buffer.Memory[..length], new SaveOptions(IfAbsent: true), cancellationToken).ConfigureAwait(false);
        return outcome == SaveOutcome.Written ? new ChunkPutResult(true, length) : default;
    }

    /// <summary>
    /// Reads a chunk into <paramref name="destination"/> and returns its length, with <see cref="ChunkStore.Read(ChunkDigest, ulong, Span{byte})"/>'s
    /// checks: the payload checksum on the way, and a rehash when the header's checksum is not the
    /// <paramref name="payloadChecksum"/> the index recorded (or that is <see cref="ChunkStore.UnknownPayloadChecksum"/>),
    /// so an object swapped for another chunk's is refused. The zero chunk clears the destination.
    /// </summary>
    /// <exception cref="ChunkMissingException">No such chunk.</exception>
    /// <exception cref="ChunkCorruptException">The object is damaged or holds other content.</exception>
    /// <exception cref="ArgumentException">The destination is smaller than the chunk.</exception>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // a restore reads chunk after chunk: no box per read
    public async ValueTask<int> ReadAsync(ChunkDigest digest, ulong payloadChecksum, Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (digest.IsZero)
        {
            destination.Span.Clear();
            return destination.Length;
        }

        // A chunk that fits the destination is stored in at most header + its length (zstd is kept only when it is
        // smaller), so that bound serves every read but a hostile one, which a second, full-sized load settles.
        var bound = ChunkHeader.Size + Math.Min(destination.Length, ChunkFile.MaxChunkLength);
        var check = ChunkCheck.Ok;
        var length = 0;
        var stored = ChunkStore.UnknownPayloadChecksum;
        while (true)
        {
            using var buffer = BufferPool.Shared.Rent(bound);
            var read = await LoadAsync(digest, buffer, cancellationToken).ConfigureAwait(false);
            if (read == bound && bound < ChunkFile.MaxStoredLength &&
                ChunkFile.ReadHeader(buffer.Span, out var header) == ChunkCheck.Ok && header.FileLength > read)
            {
                ChunkFile.EnsureFits(header, destination.Span);
                bound = ChunkFile.MaxStoredLength;
                continue;
            }

            check = ChunkFile.Decode(buffer.Span[..read], destination.Span, out length, out stored);
            break;
        }

        if (check == ChunkCheck.Ok && stored != payloadChecksum && _naming.Name(destination.Span[..length]) != digest)
        {
            check = ChunkCheck.DigestMismatch;
        }

        return check == ChunkCheck.Ok ? length : throw new ChunkCorruptException(digest, KeyOf(digest), check);
    }

    /// <inheritdoc/>
    public int Read(ChunkDigest digest, ulong payloadChecksum, Span<byte> destination)
    {
        using var buffer = BufferPool.Shared.Rent(Math.Max(destination.Length, 1));
        var memory = buffer.Memory[..destination.Length];
        var length = Blocking.Wait(ReadAsync(digest, payloadChecksum, memory, CancellationToken.None));
        buffer.Span[..length].CopyTo(destination);
        return length;
    }

    /// <inheritdoc/>
    public int Read(ChunkDigest digest, Span<byte> destination) => Read(digest, ChunkStore.UnknownPayloadChecksum, destination);

    /// <inheritdoc/>
    public bool TouchAll(ReadOnlySpan<ChunkDigest> digests, out ChunkDigest missing) => TouchAll(digests, [], [], out missing);

    /// <summary>
    /// Checks that every chunk exists, <see cref="ParallelRequests"/> at a time (a known chunk costs no request behind
    /// the cache). An object store keeps no payload checksum outside the object, so a chunk reused from
    /// <paramref name="expected"/> keeps the checksum that index recorded (a restore compares it with the object's
    /// header and rehashes on a difference) and a new one is <see cref="ChunkStore.UnknownPayloadChecksum"/>.
    /// </summary>
    public bool TouchAll(ReadOnlySpan<ChunkDigest> digests, Span<ulong> payloadChecksums, ReadOnlySpan<ulong> expected, out ChunkDigest missing)
    {
        var distinct = new HashSet<ChunkDigest>();
        foreach (var digest in digests)
        {
            if (!digest.IsZero)
            {
                distinct.Add(digest);
            }
        }

        for (var i = 0; i < payloadChecksums.Length; i++)
        {
            payloadChecksums[i] = i < expected.Length ? expected[i] : ChunkStore.UnknownPayloadChecksum;
        }

        missing = Blocking.Wait(() => FirstMissingAsync(distinct, CancellationToken.None));
        return missing.IsZero;
    }

    /// <summary>A chunk of <paramref name="digests"/> that is not stored, or the zero digest when all are.</summary>
    public async Task<ChunkDigest> FirstMissingAsync(IEnumerable<ChunkDigest> digests, CancellationToken cancellationToken)
    {
        // A digest is 32 bytes: checks finishing at once would tear a plain write, so the first missing one is
        // published whole, boxed, exactly once.
        object? missing = null;
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = ParallelRequests, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(digests, parallel, async (digest, token) =>
        {
            if (Volatile.Read(ref missing) is null && !await ExistsAsync(digest, token).ConfigureAwait(false))
            {
                Interlocked.CompareExchange(ref missing, digest, null);
            }
        }).ConfigureAwait(false);
        return missing is ChunkDigest found ? found : ChunkDigest.Zero;
    }

    /// <inheritdoc/>
    public ValueTask<ChunkCheck> VerifyAsync(ChunkDigest digest, bool rehash, ulong payloadChecksum, CancellationToken cancellationToken) =>
        VerifyAsync(digest, rehash, cancellationToken, payloadChecksum);

    /// <summary>
    /// Checks one chunk: header and payload checksum (quick) and, with <paramref name="rehash"/> or when the header's
    /// checksum is not the <paramref name="payloadChecksum"/> an index recorded, that its content is what its name says.
    /// </summary>
    public async ValueTask<ChunkCheck> VerifyAsync(ChunkDigest digest, bool rehash, CancellationToken cancellationToken, ulong payloadChecksum = ChunkStore.UnknownPayloadChecksum)
    {
        if (digest.IsZero)
        {
            return ChunkCheck.Ok;
        }

        using var buffer = BufferPool.Shared.Rent(ChunkFile.MaxStoredLength);
        int read;
        try
        {
            read = await LoadAsync(digest, buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (ChunkMissingException)
        {
            return ChunkCheck.Missing;
        }

        var stored = buffer.Span[..read];
        var quick = ChunkFile.Check(stored, out var checksum);
        if (quick != ChunkCheck.Ok || (!rehash && (payloadChecksum == ChunkStore.UnknownPayloadChecksum || checksum == payloadChecksum)))
        {
            return quick;
        }

        _ = ChunkFile.ReadHeader(stored, out var header);
        using var content = BufferPool.Shared.Rent(Math.Max(header.UncompressedLength, 1));
        var check = ChunkFile.Decode(stored, content.Span, out var length, out _);
        return check != ChunkCheck.Ok || _naming.Name(content.Span[..length]) == digest ? check : ChunkCheck.DigestMismatch;
    }

    /// <summary>Whether the chunk is stored (the zero chunk always is); a caching store answers known chunks without a request.</summary>
    public async ValueTask<bool> ExistsAsync(ChunkDigest digest, CancellationToken cancellationToken) =>
        digest.IsZero || await Store.StatAsync(NameOf(digest), cancellationToken).ConfigureAwait(false) is not null;

    /// <summary>Every stored chunk with its length and time (objects under <c>chunks/</c> that are no chunk's name are left out).</summary>
    public async IAsyncEnumerable<ChunkObjectInfo> ListAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var info in Store.ListAsync(ObjectKind.Chunk, cancellationToken).ConfigureAwait(false))
        {
            if (info.Name.Name.Length == 2 * ChunkDigest.Length && ChunkDigest.TryParse(info.Name.Name, out var digest))
            {
                yield return new ChunkObjectInfo(digest, info.Length, info.LastModified);
            }
        }
    }

    /// <summary>Deletes a chunk; false when it was not stored.</summary>
    /// <exception cref="ObjectLockedException">The chunk is retained (Object Lock).</exception>
    public ValueTask<bool> RemoveAsync(ChunkDigest digest, CancellationToken cancellationToken) =>
        digest.IsZero ? ValueTask.FromResult(false) : Store.RemoveAsync(NameOf(digest), cancellationToken);

    /// <summary>One ranged load of the chunk's object from its start into <paramref name="buffer"/>; returns the bytes read.</summary>
    private async ValueTask<int> LoadAsync(ChunkDigest digest, NativeBuffer buffer, CancellationToken cancellationToken)
    {
        try
        {
            return await Store.LoadAsync(NameOf(digest), 0, buffer.Memory, cancellationToken).ConfigureAwait(false);
        }
        catch (ObjectNotFoundException)
        {
            throw new ChunkMissingException(digest, KeyOf(digest));
        }
    }
}
