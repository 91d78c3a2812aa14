using System.IO.Hashing;
using Engine.Backup.Repository.Native;
using Engine.Blocks.Buffers;
using Microsoft.Win32.SafeHandles;

namespace Engine.Backup.Repository;

/// <summary>
/// The content-addressed chunk files of a repository, <c>chunks/ab/abcd…</c>: one file per distinct chunk, named by
/// its SHA-256, holding a <see cref="ChunkHeader"/> and the raw or zstd payload. Thread-safe; several processes may
/// put into one store at once (identical chunks arriving together are harmless: the later rename replaces an
/// identical file).
/// </summary>
public sealed class ChunkStore
{
    /// <summary>The largest chunk the store accepts.</summary>
    public const int MaxChunkLength = 32 << 20;

    private readonly string _tmpDirectory;
    private readonly int _compressionLevel;
    private readonly bool _syncEachChunk;
    private readonly string? _parentDirectory;
    private volatile bool _directWrites = true;

    // 0666 before the umask, as File.OpenHandle creates files.
    private const int ChunkFileMode = 0x1b6;

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

    /// <summary>The file a chunk lives in (whether or not it exists).</summary>
    public string PathOf(ChunkDigest digest) => PathIn(Directory, digest);

    private static string PathIn(string directory, ChunkDigest digest)
    {
        var hex = digest.ToString();
        return string.Concat(directory, "/", hex[..2], "/", hex);
    }

    /// <summary>Whether the parent store (<see cref="RepositoryOptions.ParentChunkDirectory"/>) holds an intact copy.</summary>
    private bool InParent(ChunkDigest digest) => _parentDirectory is not null && IsIntact(PathIn(_parentDirectory, digest));

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

    /// <summary>Marks a chunk as in use now (its mtime), so garbage collection keeps it; false when it does not exist.</summary>
    public bool Touch(ChunkDigest digest)
    {
        if (digest.IsZero)
        {
            return true;
        }

        using (ChunkLock.Shared(LockPath))
        {
            return TouchUnlocked(digest);
        }
    }

    /// <summary>
    /// <see cref="Touch"/> for many chunks under one lock; false (with the first absent one in <paramref name="missing"/>)
    /// when any does not exist.
    /// </summary>
    public bool TouchAll(ReadOnlySpan<ChunkDigest> digests, out ChunkDigest missing)
    {
        missing = default;
        using (ChunkLock.Shared(LockPath))
        {
            var previous = ChunkDigest.Zero;
            foreach (var digest in digests)
            {
                // Runs of one digest (a repeated pattern) need one touch.
                if (digest.IsZero || digest == previous)
                {
                    continue;
                }

                if (!TouchUnlocked(digest) && !InParent(digest))
                {
                    missing = digest;
                    return false;
                }

                previous = digest;
            }
        }

        return true;
    }

    /// <summary>Whether the chunk's file exists (the zero chunk always does).</summary>
    public bool Contains(ChunkDigest digest) => digest.IsZero || File.Exists(PathOf(digest));

    /// <summary>
    /// Reads a chunk into <paramref name="destination"/>, checking its payload checksum on the way; returns its
    /// uncompressed length. The zero chunk clears the whole destination and returns its length.
    /// </summary>
    /// <exception cref="ChunkMissingException">No such chunk.</exception>
    /// <exception cref="ChunkCorruptException">The file is damaged.</exception>
    /// <exception cref="ArgumentException">The destination is smaller than the chunk.</exception>
    public int Read(ChunkDigest digest, Span<byte> destination)
    {
        if (digest.IsZero)
        {
            destination.Clear();
            return destination.Length;
        }

        var path = PathOf(digest);
        using var handle = OpenForRead(digest, path) ?? throw new ChunkMissingException(digest, path);
        var check = Load(handle, destination, out var length, requireFit: true);
        return check == ChunkCheck.Ok ? length : throw new ChunkCorruptException(digest, path, check);
    }

    /// <summary>
    /// Checks one chunk: header and payload checksum (quick), and with <paramref name="rehash"/> also that it
    /// decompresses to content whose SHA-256 is its name.
    /// </summary>
    public ChunkCheck Verify(ChunkDigest digest, bool rehash)
    {
        if (digest.IsZero)
        {
            return ChunkCheck.Ok;
        }

        var path = PathOf(digest);
        using var handle = OpenForRead(digest, path);
        if (handle is null)
        {
            return ChunkCheck.Missing;
        }

        if (!rehash)
        {
            return Load(handle, [], out _, requireFit: false);
        }

        // Size the buffer from the header (a damaged header is reported by Load before the buffer matters).
        Span<byte> head = stackalloc byte[ChunkHeader.Size];
        var needed = ReadFully(handle, head, 0) == ChunkHeader.Size && ChunkHeader.TryRead(head, out var header) ? header.UncompressedLength : 0;
        using var buffer = BufferPool.Shared.Rent(Math.Clamp(needed, 1, MaxChunkLength));
        var check = Load(handle, buffer.Span, out var length, requireFit: true);
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
        var path = PathOf(digest);
        using (ChunkLock.Shared(LockPath))
        {
            if (TryTouchIntact(path))
            {
                return default;
            }
        }

        if (InParent(digest))
        {
            return default;
        }

        // Compression and the temporary file happen outside the lock: only the rename must not cross a sweep.
        var temporary = WriteTemporary(data, out var storedBytes);
        try
        {
            using (ChunkLock.Shared(LockPath))
            {
                Rename(temporary, path);
            }
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }

        return new ChunkPutResult(true, storedBytes);
    }

    private string WriteTemporary(ReadOnlySpan<byte> data, out long storedBytes)
    {
        // The whole file is built in one page-aligned buffer (a raw payload is copied behind its header) so that it
        // can go to the disk with O_DIRECT: a backup writes each chunk once and never reads it back soon, so the
        // page cache's copy and writeback are pure cost (the kernel time of a 4 GiB backup halved, bench/RESULTS.md).
        using var buffer = BufferPool.Shared.Rent(ChunkHeader.Size + ChunkCodec.Bound(data.Length) + BufferPool.Alignment);
        var span = buffer.Span;
        var compressed = ChunkCodec.TryCompress(data, span[ChunkHeader.Size..], _compressionLevel);
        if (compressed < 0)
        {
            data.CopyTo(span[ChunkHeader.Size..]);
        }

        var payload = span.Slice(ChunkHeader.Size, compressed < 0 ? data.Length : compressed);
        var header = new ChunkHeader(compressed < 0 ? ChunkEncoding.Raw : ChunkEncoding.Zstd, data.Length, payload.Length, XxHash3.HashToUInt64(payload));
        header.Write(span);
        var file = span[..checked((int)header.FileLength)];

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
                        RandomAccess.Write(handle, file[..written], 0);
                    }

                    var flags = RepositoryLibC.Fcntl(handle, RepositoryLibC.F_GETFL, 0);
                    if (flags < 0 || RepositoryLibC.Fcntl(handle, RepositoryLibC.F_SETFL, flags & ~RepositoryLibC.O_DIRECT) < 0)
                    {
                        throw RepositoryLibC.Error(RepositoryLibC.LastErrno, "fcntl", temporary);
                    }
                }

                if (written < file.Length)
                {
                    RandomAccess.Write(handle, file[written..], written);
                }

                if (_syncEachChunk && RepositoryLibC.FDataSync(handle) != 0)
                {
                    throw RepositoryLibC.Error(RepositoryLibC.LastErrno, "fdatasync", temporary);
                }

                // Start writeback of what went through the page cache now, while the backup goes on reading: the
                // syncfs at commit then finds little left to write. Best effort.
                _ = RepositoryLibC.SyncFileRange(handle, 0, 0, RepositoryLibC.SYNC_FILE_RANGE_WRITE);
            }
            catch
            {
                handle.Dispose();
                File.Delete(temporary);
                throw;
            }
        }

        storedBytes = header.FileLength;
        return temporary;
    }

    /// <summary>
    /// Creates a temporary chunk file, with O_DIRECT where the filesystem supports it (tmpfs and some FUSE
    /// filesystems refuse it with EINVAL; the store then stops trying).
    /// </summary>
    private SafeFileHandle CreateTemporary(string path, out bool direct)
    {
        const int Flags = RepositoryLibC.O_WRONLY | RepositoryLibC.O_CREAT | RepositoryLibC.O_EXCL;
        int errno;
        if (_directWrites)
        {
            var handle = RepositoryLibC.TryOpen(path, Flags | RepositoryLibC.O_DIRECT, ChunkFileMode, out errno);
            if (handle is not null)
            {
                direct = true;
                return handle;
            }

            if (errno != RepositoryLibC.EINVAL)
            {
                throw RepositoryLibC.Error(errno, "open", path);
            }

            _directWrites = false;
        }

        direct = false;
        return RepositoryLibC.TryOpen(path, Flags, ChunkFileMode, out errno) ?? throw RepositoryLibC.Error(errno, "open", path);
    }

    private static void Rename(string temporary, string path)
    {
        try
        {
            File.Move(temporary, path, overwrite: true);
        }
        catch (DirectoryNotFoundException)
        {
            System.IO.Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
            File.Move(temporary, path, overwrite: true);
        }
    }

    private bool TouchUnlocked(ChunkDigest digest)
    {
        var path = PathOf(digest);
        if (RepositoryLibC.UTimeNsAt(RepositoryLibC.AT_FDCWD, path, 0, 0) == 0)
        {
            return true;
        }

        var errno = RepositoryLibC.LastErrno;
        return errno == RepositoryLibC.ENOENT ? false : throw RepositoryLibC.Error(errno, "utimensat", path);
    }

    /// <summary>Touches an existing chunk file whose header is sound and whose length covers it; false otherwise.</summary>
    private static bool TryTouchIntact(string path)
    {
        using var handle = RepositoryLibC.TryOpen(path, RepositoryLibC.O_RDONLY, 0, out var errno);
        if (handle is null)
        {
            return errno == RepositoryLibC.ENOENT ? false : throw RepositoryLibC.Error(errno, "open", path);
        }

        Span<byte> bytes = stackalloc byte[ChunkHeader.Size];
        if (ReadFully(handle, bytes, 0) != ChunkHeader.Size || !ChunkHeader.TryRead(bytes, out var header) ||
            RandomAccess.GetLength(handle) < header.FileLength)
        {
            return false;
        }

        return RepositoryLibC.FUTimeNs(handle, 0) == 0 ? true : throw RepositoryLibC.Error(RepositoryLibC.LastErrno, "futimens", path);
    }

    /// <summary>Whether a chunk file exists with a sound header and the length it promises; read-only (no touch).</summary>
    private static bool IsIntact(string path)
    {
        using var handle = RepositoryLibC.TryOpen(path, RepositoryLibC.O_RDONLY, 0, out _);
        if (handle is null)
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[ChunkHeader.Size];
        return ReadFully(handle, bytes, 0) == ChunkHeader.Size && ChunkHeader.TryRead(bytes, out var header) &&
            RandomAccess.GetLength(handle) >= header.FileLength;
    }

    private static SafeFileHandle? OpenForRead(ChunkDigest digest, string path)
    {
        var handle = RepositoryLibC.TryOpen(path, RepositoryLibC.O_RDONLY, 0, out var errno);
        if (handle is null && errno != RepositoryLibC.ENOENT)
        {
            throw new RepositoryException(path, $"chunk {digest}: {RepositoryLibC.Error(errno, "open", path).Message}");
        }

        return handle;
    }

    /// <summary>
    /// Reads and checks a chunk file. With a non-empty <paramref name="destination"/> the payload is also decoded into
    /// it (raw payloads are read straight into it); otherwise only the checksum is tested.
    /// </summary>
    private static ChunkCheck Load(SafeFileHandle handle, Span<byte> destination, out int length, bool requireFit)
    {
        length = 0;
        Span<byte> bytes = stackalloc byte[ChunkHeader.Size];
        if (ReadFully(handle, bytes, 0) != ChunkHeader.Size)
        {
            return ChunkCheck.Truncated;
        }

        if (!ChunkHeader.TryRead(bytes, out var header) || header.UncompressedLength > MaxChunkLength || header.StoredLength > MaxChunkLength)
        {
            return ChunkCheck.BadHeader;
        }

        if (requireFit && destination.Length < header.UncompressedLength)
        {
            throw new ArgumentException($"destination of {destination.Length} bytes is smaller than the chunk ({header.UncompressedLength})", nameof(destination));
        }

        var decode = requireFit;
        if (header.Encoding == ChunkEncoding.Raw && decode)
        {
            var target = destination[..header.StoredLength];
            if (ReadFully(handle, target, ChunkHeader.Size) != header.StoredLength)
            {
                return ChunkCheck.Truncated;
            }

            length = header.UncompressedLength;
            return XxHash3.HashToUInt64(target) == header.PayloadChecksum ? ChunkCheck.Ok : ChunkCheck.ChecksumMismatch;
        }

        using var stored = BufferPool.Shared.Rent(header.StoredLength);
        var payload = stored.Span;
        if (ReadFully(handle, payload, ChunkHeader.Size) != header.StoredLength)
        {
            return ChunkCheck.Truncated;
        }

        if (XxHash3.HashToUInt64(payload) != header.PayloadChecksum)
        {
            return ChunkCheck.ChecksumMismatch;
        }

        if (!decode)
        {
            return ChunkCheck.Ok;
        }

        length = ChunkCodec.TryDecompress(payload, destination[..header.UncompressedLength]);
        return length == header.UncompressedLength ? ChunkCheck.Ok : ChunkCheck.BadPayload;
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
