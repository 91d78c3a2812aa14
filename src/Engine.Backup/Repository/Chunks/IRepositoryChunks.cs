namespace Engine.Backup.Repository.Chunks;

/// <summary>
/// Where a repository's chunks live, as the backup engines, the snapshot writer and restores see it: the local
/// directory's <see cref="ChunkStore"/> (files written and read with direct I/O, unchanged) or the chunk objects of any
/// object store (<c>ChunkObjects.ObjectChunkStore</c>, an S3 bucket behind retry, limits, cache and encryption). Chunk
/// put and read are asynchronous and thread-safe, so callers keep many in flight; the synchronous members serve
/// callers that are synchronous today (the snapshot writer's touch, the container archive's reads).
/// </summary>
internal interface IRepositoryChunks
{
    /// <summary>Where the chunks are, for messages: the <c>chunks</c> directory or <c>s3://BUCKET/PREFIX/chunks</c>.</summary>
    string Location { get; }

    /// <summary>Chunks a sequential restore reads ahead: a local file is cheap to start, an object store's GET is not.</summary>
    int ReadAhead { get; }

    /// <summary>Where one chunk lives (a file path or an object's full key), for messages.</summary>
    string PathOf(ChunkDigest digest);

    /// <summary>Stores a chunk unless present (then a local store touches it). The zero digest is never stored.</summary>
    ValueTask<ChunkPutResult> PutAsync(ChunkDigest digest, ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    /// <summary>Reads a chunk, checked against the payload checksum an index recorded (or rehashed when it differs).</summary>
    /// <exception cref="ChunkMissingException">No such chunk.</exception>
    /// <exception cref="ChunkCorruptException">The chunk is damaged or holds other content.</exception>
    ValueTask<int> ReadAsync(ChunkDigest digest, ulong payloadChecksum, Memory<byte> destination, CancellationToken cancellationToken);

    /// <summary>Synchronous <see cref="ReadAsync"/> for synchronous callers.</summary>
    int Read(ChunkDigest digest, ulong payloadChecksum, Span<byte> destination);

    /// <summary>Synchronous read without a recorded checksum (the content is rehashed where the store cannot tell).</summary>
    int Read(ChunkDigest digest, Span<byte> destination);

    /// <summary>
    /// Makes sure every chunk exists (a local store also touches them, so a concurrent garbage collection keeps them);
    /// false with the first <paramref name="missing"/> one otherwise.
    /// </summary>
    bool TouchAll(ReadOnlySpan<ChunkDigest> digests, out ChunkDigest missing);

    /// <summary>
    /// <see cref="TouchAll(ReadOnlySpan{ChunkDigest}, out ChunkDigest)"/> that records each chunk's payload checksum
    /// where the store knows it without reading the chunk (<see cref="ChunkStore.UnknownPayloadChecksum"/> otherwise;
    /// a restore then rehashes that chunk) and checks reused chunks against <paramref name="expected"/>.
    /// </summary>
    bool TouchAll(ReadOnlySpan<ChunkDigest> digests, Span<ulong> payloadChecksums, ReadOnlySpan<ulong> expected, out ChunkDigest missing);

    /// <summary>Checks one chunk: header and payload checksum, and with <paramref name="rehash"/> its content against its name.</summary>
    ValueTask<ChunkCheck> VerifyAsync(ChunkDigest digest, bool rehash, ulong payloadChecksum, CancellationToken cancellationToken);
}
