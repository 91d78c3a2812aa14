using Engine.Backup.Containers.Walking;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Formats;

namespace Engine.Backup.Containers.Archive;

/// <summary>
/// Lays unchanged files into the data stream from the reference backup's chunks instead of reading them.
/// <para>
/// Small files share chunks, so a reused file's chunks may hold bytes of neighbours. Reused files are therefore
/// gathered into a run of files that lie close together in the reference's stream (with the entries walked between
/// them, to keep the catalog in archive order), and the run is settled when a file must be read, when the next reused
/// file lies further on, or when the run is long: the chunks covering the run are laid in whole, and each file's data
/// start points into them. Bytes of those chunks that belong to no file of the run (a changed or removed neighbour's
/// old data) become a gap in the stream that nothing refers to. Waste costs no storage (the chunks are stored
/// already), only restore reads, while reading a file again stores its data anew in other cuts; so, as PBS does, a
/// run is laid in unless it wastes more bytes than it saves (a lone unchanged small file among changed ones) or the
/// backup's gaps would exceed a quarter of the chunks laid in. Then the run's files are read instead, which costs
/// little for small files; a file of at least the maximum chunk size has chunks of its own and wastes nothing. A run
/// that starts in the chunk the previous run ended with shares it, so an unchanged tree yields the reference's chunk
/// list exactly.
/// </para>
/// </summary>
internal sealed class ReferenceReuse
{
    /// <summary>Entries held before a run is settled: bounds memory, costs nothing (the next run shares the chunk).</summary>
    private const int MaxPending = 4096;

    /// <summary>At most 1/<c>WasteDivisor</c> of the bytes laid in from the reference may be gaps.</summary>
    private const int WasteDivisor = 4;

    private readonly Catalog _reference;
    private readonly DataStreamChunker _chunker;
    private readonly CatalogWriter _catalog;
    private readonly IRepositoryChunks _store;
    private readonly List<Pending> _pending = [];
    private int _firstChunk;
    private int _lastChunk;
    private long _referenceEnd;
    private long _payload;
    private long _laidInEnd;
    private long _totalLaidIn;
    private long _totalWaste;

    public ReferenceReuse(Catalog reference, DataStreamChunker chunker, CatalogWriter catalog, IRepositoryChunks store)
    {
        _reference = reference;
        _chunker = chunker;
        _catalog = catalog;
        _store = store;
    }

    /// <summary>Files whose content came from the reference's chunks, unread.</summary>
    public long FilesReused { get; private set; }

    /// <summary>Their bytes of data.</summary>
    public long BytesReused { get; private set; }

    /// <summary>Unchanged files read all the same: their run would have wasted too much, or its chunks are gone.</summary>
    public long FilesReadAnyway { get; private set; }

    /// <summary>Whether entries wait for their run to be settled (so every entry walked must go through <see cref="Queue"/>).</summary>
    public bool IsOpen => _pending.Count > 0;

    /// <summary>Adds an unchanged file (<see cref="WalkedEntry.ReferenceIndex"/> set) to the run, settling the run first if it does not fit.</summary>
    public async ValueTask AddAsync(WalkedEntry walked, CancellationToken cancellationToken)
    {
        var start = _reference.DataStartOf(walked.ReferenceIndex);
        var length = walked.Entry.DataLength;
        var data = _reference.Data;
        var first = data.ChunkAt(start, out _);
        var last = data.ChunkAt(start + length - 1, out _);
        if (_pending.Count > 0 && (start < _referenceEnd || first > _lastChunk + 1 || _pending.Count >= MaxPending))
        {
            await FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        if (_pending.Count == 0)
        {
            _firstChunk = first;
            _payload = 0;
        }

        _pending.Add(new Pending(walked, start, length));
        _lastChunk = last;
        _referenceEnd = start + length;
        _payload += length;
    }

    /// <summary>Holds an entry walked while a run is open, so the catalog stays in archive order.</summary>
    public void Queue(WalkedEntry walked) => _pending.Add(new Pending(walked, -1, 0));

    /// <summary>Settles the open run: lays its chunks in, or reads its files when that would waste too much.</summary>
    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        if (_pending.Count == 0)
        {
            return;
        }

        var chunks = _reference.Data.Chunks;
        // Sharing the previous run's last chunk keeps files in stream order only if this run starts after that one.
        var sharedStart = _pending[0].ReferenceStart >= _laidInEnd ? _chunker.StartOfTail(_firstChunk) : -1;
        var from = sharedStart >= 0 ? _firstChunk + 1 : _firstChunk;
        long laidIn = 0;
        for (var i = from; i <= _lastChunk; i++)
        {
            laidIn += chunks[i].Length;
        }

        var waste = Math.Max(0, laidIn - _payload); // a shared chunk's bytes were laid in (and counted) before
        if (waste <= _payload && (_totalWaste + waste) * WasteDivisor <= _totalLaidIn + laidIn && TouchAll(chunks, from))
        {
            await LayInAsync(chunks, from, sharedStart).ConfigureAwait(false);
            _laidInEnd = _referenceEnd;
            _totalLaidIn += laidIn;
            _totalWaste += waste;
        }
        else
        {
            await ReadAsync(cancellationToken).ConfigureAwait(false);
        }

        _pending.Clear();
    }

    /// <summary>
    /// Marks the chunks as in use for garbage collection (as a VM incremental does for the chunks it reuses) and checks
    /// they are still there: a reference pruned and collected meanwhile leaves its files to be read.
    /// </summary>
    private bool TouchAll(FileChunk[] chunks, int from)
    {
        if (from > _lastChunk)
        {
            return true;
        }

        var digests = new ChunkDigest[_lastChunk - from + 1];
        for (var i = 0; i < digests.Length; i++)
        {
            digests[i] = chunks[from + i].Digest;
        }

        return _store.TouchAll(digests, out _);
    }

    private async ValueTask LayInAsync(FileChunk[] chunks, int from, long sharedStart)
    {
        long runStart;
        if (sharedStart >= 0)
        {
            runStart = sharedStart;
        }
        else
        {
            await _chunker.CompleteAsync().ConfigureAwait(false);
            runStart = _chunker.Length;
        }

        for (var i = from; i <= _lastChunk; i++)
        {
            _chunker.AppendReused(chunks[i], i);
        }

        // Reference stream position p lies at runStart + (p - where the run's first chunk starts there).
        var firstStart = _pending[0].ReferenceStart;
        _reference.Data.ChunkAt(firstStart, out var offsetInChunk);
        var shift = runStart - (firstStart - offsetInChunk);
        var end = runStart + offsetInChunk;
        foreach (var item in _pending)
        {
            var entry = item.Walked.Entry;
            if (item.ReferenceStart >= 0)
            {
                _catalog.Write(entry, item.ReferenceStart + shift);
                end = item.ReferenceStart + shift + item.Length;
                FilesReused++;
                BytesReused += item.Length;
            }
            else
            {
                _catalog.Write(entry, entry.Kind == ContainerEntryKind.RegularFile ? end : 0);
            }
        }
    }

    private async ValueTask ReadAsync(CancellationToken cancellationToken)
    {
        foreach (var item in _pending)
        {
            var entry = item.Walked.Entry;
            var dataStart = 0L;
            if (entry.Kind == ContainerEntryKind.RegularFile)
            {
                dataStart = await _chunker.AppendAsync(item.Walked.HostPath, entry, cancellationToken).ConfigureAwait(false);
            }

            FilesReadAnyway += item.ReferenceStart >= 0 ? 1 : 0;
            _catalog.Write(entry, dataStart);
        }
    }

    /// <param name="Walked">The entry.</param>
    /// <param name="ReferenceStart">Where a reused file's data starts in the reference's stream; -1 for an entry walked between.</param>
    /// <param name="Length">The reused file's bytes of data.</param>
    private readonly record struct Pending(WalkedEntry Walked, long ReferenceStart, long Length);
}
