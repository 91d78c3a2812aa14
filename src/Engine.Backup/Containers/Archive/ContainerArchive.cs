using System.Runtime.CompilerServices;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Formats;
using Engine.Backup.Repository.Snapshots;
using Engine.Blocks.Buffers;

namespace Engine.Backup.Containers.Archive;

/// <summary>
/// A container snapshot's archive, read back from the repository: the catalog in memory, file data from the chunk
/// store. The chunk being read stays decoded, and the next two are read and decompressed on the thread pool meanwhile,
/// so a sequential reader (a restore, a tar stream) finds them ready. Not safe for concurrent reads; open one per
/// reader.
/// </summary>
public sealed class ContainerArchive : IContainerArchiveReader
{
    private const int ReadAhead = 2;

    private readonly BackupRepository _repository;
    private readonly Catalog _catalog;
    private readonly Dictionary<int, Task<NativeBuffer>> _ahead = [];
    private readonly List<int> _stale = [];
    private NativeBuffer? _cache;
    private int _cachedIndex = -1;
    private bool _disposed;

    private ContainerArchive(BackupRepository repository, SnapshotManifest manifest, Catalog catalog)
    {
        _repository = repository;
        Manifest = manifest;
        _catalog = catalog;
    }

    /// <summary>The snapshot's manifest.</summary>
    public SnapshotManifest Manifest { get; }

    /// <summary>The entries in archive order.</summary>
    public IReadOnlyList<ContainerEntry> Entries => _catalog.Entries;

    /// <summary>Opens the archive of a container snapshot.</summary>
    /// <exception cref="SnapshotNotFoundException">No such snapshot.</exception>
    /// <exception cref="RepositoryException">The snapshot holds no container archive.</exception>
    /// <exception cref="RepositoryCorruptException">The manifest or catalog is damaged.</exception>
    public static ContainerArchive Open(BackupRepository repository, SnapshotId id)
    {
        ArgumentNullException.ThrowIfNull(repository);
        var manifest = repository.ReadManifest(id);
        var archive = manifest.Archive ?? throw new RepositoryException(repository.SnapshotPath(id), $"snapshot {id} holds no container archive");
        var catalog = CatalogReader.Read(repository.ArchiveCatalogPath(id, archive), archive.CatalogChecksum);
        return new ContainerArchive(repository, manifest, catalog);
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<ContainerEntry> EntriesAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var entry in _catalog.Entries)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return entry;
        }

        await Task.CompletedTask.ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask<int> ReadFileAsync(ContainerEntry entry, long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(ReadFile(entry, offset, destination.Span));
    }

    /// <summary>
    /// Reads a regular file (or the file a hard link names) at <paramref name="offset"/>; holes read as zeros. Returns
    /// the bytes read, short only at the end of the file.
    /// </summary>
    /// <exception cref="ArgumentException">The entry is not a regular file or hard link of this archive.</exception>
    /// <exception cref="ChunkMissingException">A chunk is gone from the store.</exception>
    /// <exception cref="ChunkCorruptException">A chunk is damaged.</exception>
    public int ReadFile(ContainerEntry entry, long offset, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        var path = entry.Kind == ContainerEntryKind.HardLink ? entry.LinkTarget ?? "" : entry.Path;
        var content = _catalog.ContentOf(path) ?? throw new ArgumentException($"'{entry.Path}' is not a regular file of this archive", nameof(entry));
        var size = content.Entry.Size;
        if (offset >= size)
        {
            return 0;
        }

        var total = (int)Math.Min(destination.Length, size - offset);
        var done = 0;
        while (done < total)
        {
            var position = offset + done;
            var isData = content.Locate(position, out var dataPosition, out var run);
            var length = (int)Math.Min(run, total - done);
            var target = destination.Slice(done, length);
            if (isData)
            {
                CopyData(dataPosition, target);
            }
            else
            {
                target.Clear();
            }

            done += length;
        }

        return total;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _cache?.Dispose();
        _cache = null;
        foreach (var pending in _ahead.Values)
        {
            await ReleaseAsync(pending).ConfigureAwait(false);
        }

        _ahead.Clear();
    }

    private void CopyData(long dataPosition, Span<byte> target)
    {
        var data = _catalog.Data;
        var index = data.ChunkAt(dataPosition, out var offsetInChunk);
        var done = 0;
        while (done < target.Length)
        {
            var chunk = data.Chunks[index];
            var length = Math.Min(chunk.Length - offsetInChunk, target.Length - done);
            var slice = target.Slice(done, length);
            if (chunk.Digest.IsZero)
            {
                slice.Clear();
            }
            else
            {
                Load(index).Slice(offsetInChunk, length).CopyTo(slice);
            }

            done += length;
            offsetInChunk = 0;
            index++;
        }
    }

    /// <summary>The decoded chunk <paramref name="index"/> of the data stream; starts reading the next ones.</summary>
    private ReadOnlySpan<byte> Load(int index)
    {
        var chunks = _catalog.Data.Chunks;
        if (_cachedIndex != index)
        {
            var buffer = _ahead.Remove(index, out var pending) ? pending.GetAwaiter().GetResult() : Decode(chunks[index]);
            _cache?.Dispose();
            _cache = buffer;
            _cachedIndex = index;
            ReadAheadOf(index, chunks);
        }

        return _cache!.Span[..chunks[index].Length];
    }

    private void ReadAheadOf(int index, FileChunk[] chunks)
    {
        // A reader that jumped elsewhere leaves decodes it will not use.
        _stale.Clear();
        foreach (var key in _ahead.Keys)
        {
            if (key <= index || key > index + ReadAhead)
            {
                _stale.Add(key);
            }
        }

        foreach (var key in _stale)
        {
            _ahead.Remove(key, out var unused);
            ReleaseAsync(unused!).AsTask().GetAwaiter().GetResult();
        }

        for (var next = index + 1; next <= index + ReadAhead && next < chunks.Length; next++)
        {
            var chunk = chunks[next];
            if (!chunk.Digest.IsZero && !_ahead.ContainsKey(next))
            {
                _ahead[next] = Task.Run(() => Decode(chunk));
            }
        }
    }

    /// <summary>Reads and decompresses one chunk into a pooled buffer of its length.</summary>
    private NativeBuffer Decode(FileChunk chunk)
    {
        var buffer = BufferPool.Shared.Rent(chunk.Length);
        try
        {
            var length = _repository.Chunks.Read(chunk.Digest, buffer.Span);
            if (length != chunk.Length)
            {
                throw new ChunkCorruptException(chunk.Digest, _repository.Chunks.PathOf(chunk.Digest), ChunkCheck.BadPayload);
            }

            return buffer;
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    /// <summary>Waits for a read-ahead nobody needs and returns its buffer; its failure does not matter.</summary>
    private static async ValueTask ReleaseAsync(Task<NativeBuffer> pending)
    {
        try
        {
            (await pending.ConfigureAwait(false)).Dispose();
        }
        catch (Exception e) when (e is RepositoryException or IOException or ArgumentException)
        {
            // The chunk is damaged or gone: whoever needs it will read it again and be told.
        }
    }
}
