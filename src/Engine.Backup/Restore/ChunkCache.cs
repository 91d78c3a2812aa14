using Engine.Backup.Repository.Chunks;
using Engine.Blocks.Buffers;

namespace Engine.Backup.Restore;

/// <summary>
/// Decompressed chunks of one volume, shared by concurrent readers and filled ahead of a sequential reader. Entries
/// are reference-counted leases: an evicted chunk's buffer goes back to the pool only when its last reader is done.
/// </summary>
internal sealed class ChunkCache : IDisposable
{
    private readonly IRepositoryChunks _store;
    private readonly int _capacity;
    private readonly Dictionary<int, Entry> _entries = [];
    private readonly Lock _lock = new();
    private long _clock;
    private int _demandLoads;
    private bool _disposed;

    public ChunkCache(IRepositoryChunks store, int capacity)
    {
        _store = store;
        _capacity = Math.Max(2, capacity);
    }

    /// <summary>Chunks loaded because a reader asked for them, not ahead of it: each one a reader waited for in full.</summary>
    public int DemandLoads => Volatile.Read(ref _demandLoads);

    /// <summary>
    /// A lease on chunk <paramref name="index"/>; dispose it when done with its data. The chunk file must be the one
    /// the index recorded (<paramref name="payloadChecksum"/>) or hold the content <paramref name="digest"/> names.
    /// </summary>
    public async ValueTask<Lease> GetAsync(int index, ChunkDigest digest, ulong payloadChecksum, int length)
    {
        var entry = Acquire(index, digest, payloadChecksum, length, addReference: true)!;
        try
        {
            await entry.Load.ConfigureAwait(false);
            return new Lease(this, entry);
        }
        catch
        {
            Release(entry);
            lock (_lock)
            {
                // A failed load is not cached: the next read retries and reports the error again.
                if (_entries.TryGetValue(index, out var cached) && cached == entry)
                {
                    _entries.Remove(index);
                }
            }

            throw;
        }
    }

    /// <summary>Starts decompressing a chunk that a sequential reader will want soon.</summary>
    public void Prefetch(int index, ChunkDigest digest, ulong payloadChecksum, int length) => Acquire(index, digest, payloadChecksum, length, addReference: false);

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            foreach (var entry in _entries.Values)
            {
                entry.Evicted = true;
                FreeIfUnused(entry);
            }

            _entries.Clear();
        }
    }

    private Entry? Acquire(int index, ChunkDigest digest, ulong payloadChecksum, int length, bool addReference)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var added = false;
            if (!_entries.TryGetValue(index, out var entry))
            {
                // Read-ahead only pushes out chunks a reader is done with, never one fetched ahead and not read yet,
                // nor one being read: once the cache is full, it replaces what the reader has left behind.
                if (!addReference && _entries.Count >= _capacity && !EvictOldest(except: null, consumedOnly: true))
                {
                    return null;
                }

                if (addReference)
                {
                    _demandLoads++;
                }

                entry = new Entry(StartLoad(digest, payloadChecksum, length));
                _entries.Add(index, entry);
                added = true;
            }

            // Reference and stamp the entry before evicting, so the eviction can never pick the entry being handed out.
            entry.LastUse = ++_clock;
            if (addReference)
            {
                entry.References++;
                entry.Consumed = true;
            }

            if (added)
            {
                EvictBeyondCapacity(except: entry);
            }

            return entry;
        }
    }

    // On the pool: a local chunk store reads synchronously, and an object store's GET must not hold the caller's lock.
    private Task<NativeBuffer> StartLoad(ChunkDigest digest, ulong payloadChecksum, int length) => Task.Run(async () =>
    {
        var buffer = BufferPool.Shared.Rent(length);
        try
        {
            var read = await _store.ReadAsync(digest, payloadChecksum, buffer.Memory, CancellationToken.None).ConfigureAwait(false);
            if (read != length)
            {
                throw new InvalidDataException($"chunk {digest} holds {read} bytes where the index expects {length}");
            }

            return buffer;
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    });

    private void EvictBeyondCapacity(Entry except)
    {
        while (_entries.Count > _capacity)
        {
            if (!EvictOldest(except, consumedOnly: false))
            {
                return; // every entry is being read; the cache grows until readers finish
            }
        }
    }

    // Evicts the least recently used entry nobody is reading (and, with consumedOnly, that a reader has had).
    private bool EvictOldest(Entry? except, bool consumedOnly)
    {
        var victim = -1;
        var oldest = long.MaxValue;
        foreach (var (index, entry) in _entries)
        {
            if (entry != except && entry.References == 0 && (entry.Consumed || !consumedOnly) && entry.LastUse < oldest)
            {
                (victim, oldest) = (index, entry.LastUse);
            }
        }

        if (victim < 0)
        {
            return false;
        }

        var evicted = _entries[victim];
        _entries.Remove(victim);
        evicted.Evicted = true;
        FreeIfUnused(evicted);
        return true;
    }

    private void Release(Entry entry)
    {
        lock (_lock)
        {
            entry.References--;
            FreeIfUnused(entry);
        }
    }

    private static void FreeIfUnused(Entry entry)
    {
        if (entry.Evicted && entry.References == 0)
        {
            _ = entry.Load.ContinueWith(static t =>
            {
                if (t.IsCompletedSuccessfully)
                {
                    t.Result.Dispose();
                }
            }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    /// <summary>One cached chunk.</summary>
    internal sealed class Entry(Task<NativeBuffer> load)
    {
        public Task<NativeBuffer> Load { get; } = load;

        public int References { get; set; }

        public long LastUse { get; set; }

        public bool Evicted { get; set; }

        /// <summary>A reader has had it (not only read-ahead).</summary>
        public bool Consumed { get; set; }
    }

    /// <summary>A reader's hold on a cached chunk.</summary>
    internal readonly struct Lease(ChunkCache cache, Entry entry) : IDisposable
    {
        public ReadOnlySpan<byte> Data => entry.Load.Result.Span;

        public void Dispose() => cache.Release(entry);
    }
}
