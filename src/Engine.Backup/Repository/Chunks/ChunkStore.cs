using Engine.Blocks;
using Engine.Blocks.Buffers;
using Engine.Blocks.Native;
using Microsoft.Win32.SafeHandles;

namespace Engine.Backup.Repository.Chunks;

/// <summary>
/// The content-addressed chunk files of a repository, <c>chunks/ab/abcd…</c>: one file per distinct chunk, named by
/// its SHA-256, holding a <see cref="ChunkHeader"/> and the raw or zstd payload. Thread-safe; several processes may
/// put into one store at once (identical chunks arriving together are harmless: the later rename replaces an
/// identical file).
/// </summary>
internal sealed class ChunkStore : IRepositoryChunks
{
    /// <summary>The largest chunk the store accepts.</summary>
    public const int MaxChunkLength = ChunkFile.MaxChunkLength;

    /// <summary>
    /// The payload checksum of a chunk the caller knows only by its SHA-256 (a format 1 index, a container catalog):
    /// reads of it rehash the content.
    /// </summary>
    public const ulong UnknownPayloadChecksum = 0;

    private readonly string _tmpDirectory;
    private readonly int _compressionLevel;
    private readonly bool _syncEachChunk;
    private readonly string? _parentDirectory;
    private volatile bool _directWrites = true;

    // Owner only, whatever the umask: a chunk is a piece of some guest's disk.
    private const int ChunkFileMode = 0b110_000_000;

    internal ChunkStore(string directory, string tmpDirectory, int compressionLevel, bool syncEachChunk, string? parentDirectory = null)
    {
        Directory = directory;
        _parentDirectory = parentDirectory is null ? null : System.IO.Path.GetFullPath(parentDirectory);
        _tmpDirectory = tmpDirectory;
        _compressionLevel = compressionLevel;
        _syncEachChunk = syncEachChunk;
        LockPath = System.IO.Path.Combine(directory, ".lock");
    }

    /// <summary>The <c>chunks</c> directory.</summary>
    public string Directory { get; }

    internal string LockPath { get; }

    /// <inheritdoc/>
    public string Location => Directory;

    /// <inheritdoc/>
    public int ReadAhead => 2;

    /// <inheritdoc/>
    public ValueTask<int> ReadAsync(ChunkDigest digest, ulong payloadChecksum, Memory<byte> destination, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Read(digest, payloadChecksum, destination.Span));
    }

    /// <inheritdoc/>
    public ValueTask<ChunkCheck> VerifyAsync(ChunkDigest digest, bool rehash, ulong payloadChecksum, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Verify(digest, rehash, payloadChecksum));
    }

    /// <summary>The file a chunk lives in (whether or not it exists).</summary>
    public string PathOf(ChunkDigest digest) => PathIn(Directory, digest);

    private static string PathIn(string directory, ChunkDigest digest)
    {
        var hex = digest.ToString();
        return string.Concat(directory, "/", hex[..2], "/", hex);
    }

    /// <summary>Whether the parent store (<see cref="RepositoryOptions.ParentChunkDirectory"/>) holds an intact copy.</summary>
    private bool InParent(ChunkDigest digest, out ulong payloadChecksum)
    {
        payloadChecksum = UnknownPayloadChecksum;
        return _parentDirectory is not null && IsIntact(PathIn(_parentDirectory, digest), out payloadChecksum);
    }

    /// <summary>
    /// Stores a chunk unless it is already present (then only touches it, so a concurrent garbage collection keeps
    /// it). The zero digest is never stored. A present file shorter than its header promises (torn by a power loss)
    /// is rewritten. The caller computed <paramref name="digest"/> from <paramref name="data"/>.
    /// </summary>
    public ValueTask<ChunkPutResult> PutAsync(ChunkDigest digest, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (data.Length > MaxChunkLength)
        {
            throw new ArgumentException($"chunk of {data.Length} bytes exceeds {MaxChunkLength}", nameof(data));
        }

        return digest.IsZero ? default : new ValueTask<ChunkPutResult>(Put(digest, data.Span));
    }

    /// <summary>
    /// Marks a chunk as in use now (its mtime), so garbage collection keeps it; false when there is no intact chunk
    /// file (absent, torn, or a link or anything else but a regular file, which is never followed).
    /// </summary>
    public bool Touch(ChunkDigest digest)
    {
        if (digest.IsZero)
        {
            return true;
        }

        using (ChunkLock.Shared(LockPath))
        {
            return TryTouchIntact(PathOf(digest), out _);
        }
    }

    /// <summary>
    /// <see cref="Touch"/> for many chunks under one lock; false (with the first absent one in <paramref name="missing"/>)
    /// when any does not exist.
    /// </summary>
    public bool TouchAll(ReadOnlySpan<ChunkDigest> digests, out ChunkDigest missing) => TouchAll(digests, [], [], out missing);

    /// <summary>
    /// <see cref="TouchAll(ReadOnlySpan{ChunkDigest}, out ChunkDigest)"/> that also records each chunk's payload
    /// checksum (from its header, read through the same descriptor as the touch) in <paramref name="payloadChecksums"/>
    /// (empty: not recorded). Where <paramref name="expected"/> (empty: none) holds a known checksum that the file no
    /// longer carries, the chunk was rewritten or replaced since: its content is rehashed, and a file that is not the
    /// chunk fails the call.
    /// </summary>
    /// <exception cref="ChunkCorruptException">A reused chunk's file holds other content than its name says.</exception>
    public bool TouchAll(ReadOnlySpan<ChunkDigest> digests, Span<ulong> payloadChecksums, ReadOnlySpan<ulong> expected, out ChunkDigest missing)
    {
        missing = default;
        using (ChunkLock.Shared(LockPath))
        {
            var previous = ChunkDigest.Zero;
            var previousChecksum = UnknownPayloadChecksum;
            for (var i = 0; i < digests.Length; i++)
            {
                var digest = digests[i];
                if (digest.IsZero)
                {
                    continue;
                }

                // Runs of one digest (a repeated pattern) need one touch.
                if (digest != previous)
                {
                    if (!TryTouchIntact(PathOf(digest), out previousChecksum) && !InParent(digest, out previousChecksum))
                    {
                        missing = digest;
                        return false;
                    }

                    previous = digest;
                }

                if (!expected.IsEmpty && expected[i] != UnknownPayloadChecksum && expected[i] != previousChecksum)
                {
                    var check = Verify(digest, rehash: true);
                    if (check != ChunkCheck.Ok)
                    {
                        throw new ChunkCorruptException(digest, PathOf(digest), check);
                    }
                }

                if (!payloadChecksums.IsEmpty)
                {
                    payloadChecksums[i] = previousChecksum;
                }
            }
        }

        return true;
    }

    /// <summary>Whether the chunk's file exists as a regular file (the zero chunk always does).</summary>
    public bool Contains(ChunkDigest digest)
    {
        if (digest.IsZero)
        {
            return true;
        }

        using var handle = RepositoryCalls.TryOpenRegular(PathOf(digest), LibC.O_RDONLY, out _);
        return handle is not null;
    }

    /// <summary>
    /// Reads a chunk known only by its SHA-256 into <paramref name="destination"/>: the payload checksum is checked on
    /// the way and the content rehashed, so a file copied over another chunk's is refused. Returns the uncompressed
    /// length. The zero chunk clears the whole destination and returns its length.
    /// </summary>
    /// <exception cref="ChunkMissingException">No such chunk.</exception>
    /// <exception cref="ChunkCorruptException">The file is damaged, not a regular file, or holds other content.</exception>
    /// <exception cref="ArgumentException">The destination is smaller than the chunk.</exception>
    public int Read(ChunkDigest digest, Span<byte> destination) => Read(digest, UnknownPayloadChecksum, destination);

    /// <summary>
    /// Reads a chunk into <paramref name="destination"/> and checks that it is the chunk the caller's index names:
    /// the header's payload checksum (itself checked against the payload on the way) must be
    /// <paramref name="payloadChecksum"/>, as the index recorded it; that costs no hashing beyond what every read does.
    /// A different one means the file was rewritten since (a torn chunk repaired, another zstd) or replaced: then, and
    /// for <see cref="UnknownPayloadChecksum"/>, the content is rehashed and must match <paramref name="digest"/>.
    /// </summary>
    /// <exception cref="ChunkMissingException">No such chunk.</exception>
    /// <exception cref="ChunkCorruptException">The file is damaged, not a regular file, or holds other content.</exception>
    /// <exception cref="ArgumentException">The destination is smaller than the chunk.</exception>
    public int Read(ChunkDigest digest, ulong payloadChecksum, Span<byte> destination)
    {
        if (digest.IsZero)
        {
            destination.Clear();
            return destination.Length;
        }

        var path = PathOf(digest);
        using var handle = OpenForRead(digest, path, out var absent) ?? throw Absent(digest, path, absent);
        var check = Load(handle, destination, out var length, requireFit: true, out var stored);
        if (check == ChunkCheck.Ok && stored != payloadChecksum && ChunkDigest.Compute(destination[..length]) != digest)
        {
            check = ChunkCheck.DigestMismatch;
        }

        return check == ChunkCheck.Ok ? length : throw new ChunkCorruptException(digest, path, check);
    }

    private static RepositoryException Absent(ChunkDigest digest, string path, ChunkCheck absent) =>
        absent == ChunkCheck.Missing ? new ChunkMissingException(digest, path) : new ChunkCorruptException(digest, path, absent);

    /// <summary>
    /// Checks one chunk: header and payload checksum (quick), and with <paramref name="rehash"/> also that it
    /// decompresses to content whose SHA-256 is its name.
    /// </summary>
    public ChunkCheck Verify(ChunkDigest digest, bool rehash) => Verify(digest, rehash, UnknownPayloadChecksum);

    /// <summary>
    /// <see cref="Verify(ChunkDigest, bool)"/> that, without <paramref name="rehash"/>, also compares the header's payload
    /// checksum with the one an index recorded (<paramref name="payloadChecksum"/>); when they differ the content is
    /// rehashed, so a chunk file copied over another is found by a quick check too.
    /// </summary>
    public ChunkCheck Verify(ChunkDigest digest, bool rehash, ulong payloadChecksum)
    {
        if (digest.IsZero)
        {
            return ChunkCheck.Ok;
        }

        var path = PathOf(digest);
        using var handle = OpenForRead(digest, path, out var absent);
        if (handle is null)
        {
            return absent;
        }

        if (!rehash)
        {
            var quick = Load(handle, [], out _, requireFit: false, out var stored);
            if (quick != ChunkCheck.Ok || payloadChecksum == UnknownPayloadChecksum || stored == payloadChecksum)
            {
                return quick;
            }

            // Not the file the index recorded: only the content tells a rewrite from a swap.
        }

        // Size the buffer from the header (a damaged header is reported by Load before the buffer matters).
        Span<byte> head = stackalloc byte[ChunkHeader.Size];
        var needed = ReadFully(handle, head, 0) == ChunkHeader.Size && ChunkHeader.TryRead(head, out var header) ? header.UncompressedLength : 0;
        using var buffer = BufferPool.Shared.Rent(Math.Clamp(needed, 1, MaxChunkLength));
        var check = Load(handle, buffer.Span, out var length, requireFit: true, out _);
        if (check != ChunkCheck.Ok)
        {
            return check;
        }

        return ChunkDigest.Compute(buffer.Span[..length]) == digest ? ChunkCheck.Ok : ChunkCheck.DigestMismatch;
    }

    /// <summary>The stored size (header included) of a chunk file, or -1 when it does not exist.</summary>
    internal long StoredLength(ChunkDigest digest)
    {
        var info = new FileInfo(PathOf(digest));
        return info.Exists ? info.Length : -1;
    }

    internal ChunkPutResult Put(ChunkDigest digest, ReadOnlySpan<byte> data)
    {
        if (IsStored(digest))
        {
            return default;
        }

        // The whole file is built in one page-aligned buffer (a raw payload is copied behind its header) so that it
        // can go to the disk with O_DIRECT.
        using var buffer = BufferPool.Shared.Rent(ChunkFile.EncodedBound(data.Length) + BufferPool.Alignment);
        return Store(digest, buffer.Span[..ChunkFile.Encode(data, buffer.Span, _compressionLevel)]);
    }

    /// <summary>
    /// <see cref="PutAsync"/> for content already in a <see cref="ChunkFile.EncodeInFrame"/> frame: a raw chunk goes
    /// to the disk from there without a copy. <paramref name="frame"/> starts page-aligned (a
    /// <see cref="BufferPool"/> buffer) for O_DIRECT; its content may be overwritten.
    /// </summary>
    internal ChunkPutResult PutFrame(ChunkDigest digest, Span<byte> frame, int dataLength)
    {
        if (digest.IsZero || IsStored(digest))
        {
            return default;
        }

        return Store(digest, frame[..ChunkFile.EncodeInFrame(frame, dataLength, _compressionLevel)]);
    }

    private bool IsStored(ChunkDigest digest)
    {
        using (ChunkLock.Shared(LockPath))
        {
            if (TryTouchIntact(PathOf(digest), out _))
            {
                return true;
            }
        }

        return InParent(digest, out _);
    }

    private ChunkPutResult Store(ChunkDigest digest, ReadOnlySpan<byte> file)
    {
        // Compression and the temporary file happen outside the lock: only the rename must not cross a sweep.
        var temporary = WriteTemporary(file);
        try
        {
            using (ChunkLock.Shared(LockPath))
            {
                Rename(temporary, PathOf(digest));
            }
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }

        return new ChunkPutResult(true, file.Length);
    }

    /// <summary>Writes an encoded chunk, from a page-aligned buffer, to a new temporary file; returns its path.</summary>
    private string WriteTemporary(ReadOnlySpan<byte> file)
    {
        // O_DIRECT: a backup writes each chunk once and never reads it back soon, so the page cache's copy and
        // writeback are pure cost (the kernel time of a 4 GiB backup halved, bench/RESULTS.md).
        var temporary = System.IO.Path.Combine(_tmpDirectory, "chunk-" + Guid.NewGuid().ToString("N"));
        using (var handle = CreateTemporary(temporary, out var direct))
        {
            try
            {
                var written = 0;
                if (direct)
                {
                    // The aligned head goes direct; the sub-block tail through the page cache (O_DIRECT cleared), where
                    // the commit's syncfs makes it durable with the file's metadata.
                    written = file.Length & ~(BufferPool.Alignment - 1);
                    if (written > 0)
                    {
                        RepositoryFiles.Write(handle, file[..written], 0, temporary);
                    }

                    var flags = LibC.Fcntl(handle, LibC.F_GETFL, 0);
                    if (flags < 0 || LibC.Fcntl(handle, LibC.F_SETFL, flags & ~LibC.O_DIRECT) < 0)
                    {
                        throw RepositoryCalls.Error(LibC.LastErrno, "fcntl", temporary);
                    }
                }

                if (written < file.Length)
                {
                    RepositoryFiles.Write(handle, file[written..], written, temporary);
                }

                if (_syncEachChunk && LibC.FDataSync(handle) != 0)
                {
                    throw RepositoryCalls.Error(LibC.LastErrno, "fdatasync", temporary);
                }

                // Start writeback of what went through the page cache now, while the backup goes on reading: the
                // syncfs at commit then finds little left to write. Best effort.
                _ = LibC.SyncFileRange(handle, 0, 0, LibC.SYNC_FILE_RANGE_WRITE);
            }
            catch
            {
                handle.Dispose();
                File.Delete(temporary);
                throw;
            }
        }

        return temporary;
    }

    /// <summary>
    /// Creates a temporary chunk file, with O_DIRECT where the filesystem supports it (tmpfs and some FUSE
    /// filesystems refuse it with EINVAL; the store then stops trying).
    /// </summary>
    private SafeFileHandle CreateTemporary(string path, out bool direct)
    {
        const int Flags = LibC.O_WRONLY | LibC.O_CREAT | LibC.O_EXCL;
        int errno;
        if (_directWrites)
        {
            var handle = LibC.TryOpen(path, Flags | LibC.O_DIRECT, ChunkFileMode, out errno);
            if (handle is not null)
            {
                direct = true;
                return handle;
            }

            if (errno != Errno.EINVAL)
            {
                throw RepositoryCalls.Error(errno, "open", path);
            }

            _directWrites = false;
        }

        direct = false;
        return LibC.TryOpen(path, Flags, ChunkFileMode, out errno) ?? throw RepositoryCalls.Error(errno, "open", path);
    }

    private static void Rename(string temporary, string path)
    {
        try
        {
            File.Move(temporary, path, overwrite: true);
        }
        catch (DirectoryNotFoundException)
        {
            RepositoryFiles.CreateDirectory(System.IO.Path.GetDirectoryName(path)!, RepositoryFiles.SearchOnlyDirectoryMode);
            File.Move(temporary, path, overwrite: true);
        }
    }

    /// <summary>
    /// Touches (through its own descriptor: a link is never followed, so nothing outside the store is changed) an
    /// existing regular chunk file whose header is sound and whose length covers it, and returns the header's payload
    /// checksum; false for anything else (absent, torn, a link, a special file), which a writer then replaces.
    /// </summary>
    private static bool TryTouchIntact(string path, out ulong payloadChecksum)
    {
        using var handle = OpenIntact(path, out payloadChecksum, throwOnError: true);
        if (handle is null)
        {
            return false;
        }

        return LibC.FUTimeNsNow(handle) == 0 ? true : throw RepositoryCalls.Error(LibC.LastErrno, "futimens", path);
    }

    /// <summary>
    /// Whether a parent store's chunk file exists with a sound header and the length it promises; read-only (no
    /// touch). A container's mapped root, writing a staging repository, may search the parent's private chunk folders
    /// but not read their files: for it a regular file at least a header long is the chunk (the import that follows
    /// touches, and so checks, every chunk the snapshot names).
    /// </summary>
    private static bool IsIntact(string path, out ulong payloadChecksum)
    {
        using var handle = OpenIntact(path, out payloadChecksum, throwOnError: false, out var errno);
        return handle is not null ||
            (errno == Errno.EACCES && RepositoryCalls.LinkType(path, out var size, out _) == Statx.RegularFile && size >= ChunkHeader.Size);
    }

    /// <summary>Opens a regular chunk file (no links followed) whose header is sound and whose length covers it; null otherwise.</summary>
    private static SafeFileHandle? OpenIntact(string path, out ulong payloadChecksum, bool throwOnError) => OpenIntact(path, out payloadChecksum, throwOnError, out _);

    private static SafeFileHandle? OpenIntact(string path, out ulong payloadChecksum, bool throwOnError, out int errno)
    {
        payloadChecksum = UnknownPayloadChecksum;
        var handle = RepositoryCalls.TryOpenRegular(path, LibC.O_RDONLY, out errno);
        if (handle is null)
        {
            return !throwOnError || errno is Errno.ENOENT or Errno.ELOOP ? null : throw RepositoryCalls.Error(errno, "open", path);
        }

        Span<byte> bytes = stackalloc byte[ChunkHeader.Size];
        if (ReadFully(handle, bytes, 0) != ChunkHeader.Size || !ChunkHeader.TryRead(bytes, out var header) ||
            RandomAccess.GetLength(handle) < header.FileLength)
        {
            handle.Dispose();
            return null;
        }

        payloadChecksum = header.PayloadChecksum;
        return handle;
    }

    /// <summary>Opens a chunk file to read; null with <see cref="ChunkCheck.Missing"/> or <see cref="ChunkCheck.NotRegularFile"/> in <paramref name="absent"/>.</summary>
    private static SafeFileHandle? OpenForRead(ChunkDigest digest, string path, out ChunkCheck absent)
    {
        var handle = RepositoryCalls.TryOpenRegular(path, LibC.O_RDONLY, out var errno);
        absent = errno == Errno.ELOOP ? ChunkCheck.NotRegularFile : ChunkCheck.Missing;
        if (handle is null && errno is not (Errno.ENOENT or Errno.ELOOP))
        {
            throw new RepositoryException(path, $"chunk {digest}: {RepositoryCalls.Error(errno, "open", path).Message}");
        }

        return handle;
    }

    /// <summary>
    /// Reads and checks a chunk file. With a non-empty <paramref name="destination"/> the payload is also decoded into
    /// it (raw payloads are read straight into it); otherwise only the checksum is tested.
    /// </summary>
    private static ChunkCheck Load(SafeFileHandle handle, Span<byte> destination, out int length, bool requireFit, out ulong payloadChecksum)
    {
        length = 0;
        payloadChecksum = UnknownPayloadChecksum;
        Span<byte> bytes = stackalloc byte[ChunkHeader.Size];
        var check = ChunkFile.ReadHeader(bytes[..ReadFully(handle, bytes, 0)], out var header);
        if (check != ChunkCheck.Ok)
        {
            return check;
        }

        payloadChecksum = header.PayloadChecksum;
        if (requireFit)
        {
            ChunkFile.EnsureFits(header, destination);
        }

        if (header.Encoding == ChunkEncoding.Raw && requireFit)
        {
            // Raw payloads are read straight into the destination (ChunkFile does not copy them again).
            var target = destination[..header.StoredLength];
            return ReadFully(handle, target, ChunkHeader.Size) != header.StoredLength
                ? ChunkCheck.Truncated
                : ChunkFile.DecodePayload(header, target, destination, out length);
        }

        using var stored = BufferPool.Shared.Rent(header.StoredLength);
        var payload = stored.Span;
        if (ReadFully(handle, payload, ChunkHeader.Size) != header.StoredLength)
        {
            return ChunkCheck.Truncated;
        }

        return requireFit ? ChunkFile.DecodePayload(header, payload, destination, out length) : ChunkFile.CheckPayload(header, payload);
    }

    /// <summary>Reads until the span is full or the file ends; returns the bytes read.</summary>
    private static int ReadFully(SafeFileHandle handle, Span<byte> destination, long offset)
    {
        var total = 0;
        while (total < destination.Length)
        {
            var read = RandomAccess.Read(handle, destination[total..], offset + total);
            if (read == 0)
            {
                break;
            }

            total += read;
        }

        return total;
    }
}
