using System.Diagnostics;
using System.Globalization;
using System.Text;
using Engine.Backup.Repository.Backends;
using Engine.Backup.Repository.ChunkObjects;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Storage;
using Engine.Backup.Repository.Storage.Stack;

namespace Engine.Backup.Repository;

public sealed partial class BackupRepository
{
    private const int ParallelRemovals = 16;

    /// <summary>
    /// Garbage collection of an object store, as docs/storage-protocol.md describes: mark beside running writers
    /// (every manifest's indexes and catalogs), keep as candidates the unreferenced chunks older than the grace, then
    /// sweep alone: take a sweep lease and list the leases (write, then list), give up the sweep while a writer's lease
    /// is live, mark what manifests committed meanwhile name, raise the epoch (before any delete, so every writer's
    /// commit and cache learns of it), delete the candidates and raise the epoch again. Both leases are renewed while
    /// gc runs. Chunks Object Lock still retains are skipped and
    /// counted.
    /// </summary>
    private async Task<GcReport> CollectObjectGarbageAsync(ObjectSnapshotStorage objects, CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        var store = objects.Store;
        var start = DateTimeOffset.UtcNow;
        var cutoff = start - _options.GcGrace;
        // Both leases are rewritten on a timer while gc runs: a sweep longer than the expiry must not look dead to a
        // writer that starts meanwhile.
        var markLease = await ObjectWriterLease.TakeAsync(store, ObjectSnapshotStorage.GcLeasePrefix, "mark", objects.LeaseTimes, cancellationToken).ConfigureAwait(false);
        try
        {
            var marked = new HashSet<ChunkDigest>();
            var first = _storage.ListCommitted(null, null);
            var snapshots = await Task.Run(() => Mark(first, marked, cancellationToken), cancellationToken).ConfigureAwait(false);

            var candidates = new List<ChunkObjectInfo>();
            long scanned = 0, keptRecent = 0;
            await foreach (var chunk in objects.ObjectChunks.ListAsync(cancellationToken).ConfigureAwait(false))
            {
                scanned++;
                if (marked.Contains(chunk.Digest))
                {
                    continue;
                }

                if (chunk.LastModified >= cutoff)
                {
                    keptRecent++;
                }
                else
                {
                    candidates.Add(chunk);
                }
            }

            var sweepLease = await ObjectWriterLease.TakeAsync(store, ObjectSnapshotStorage.SweepLeasePrefix, "sweep", objects.LeaseTimes, cancellationToken).ConfigureAwait(false);
            try
            {
                var writers = await objects.LiveLeasesAsync(ObjectWriterLease.NamePrefix, cancellationToken).ConfigureAwait(false);
                long removed = 0, locked = 0, freed = 0;
                if (writers == 0 && candidates.Count > 0)
                {
                    // A writer that reused a candidate by existence committed before our sweep lease, or fails its commit.
                    var known = first.ToHashSet();
                    var later = _storage.ListCommitted(null, null).Where(id => !known.Contains(id)).ToList();
                    snapshots += await Task.Run(() => Mark(later, marked, cancellationToken), cancellationToken).ConfigureAwait(false);
                    candidates.RemoveAll(c => marked.Contains(c.Digest));

                    await RaiseEpochAsync(store, cancellationToken).ConfigureAwait(false);
                    objects.Cache?.Invalidate();
                    var parallel = new ParallelOptions { MaxDegreeOfParallelism = ParallelRemovals, CancellationToken = cancellationToken };
                    await Parallel.ForEachAsync(candidates, parallel, async (chunk, token) =>
                    {
                        try
                        {
                            if (await objects.ObjectChunks.RemoveAsync(chunk.Digest, token).ConfigureAwait(false))
                            {
                                Interlocked.Increment(ref removed);
                                Interlocked.Add(ref freed, chunk.StoredLength);
                            }
                        }
                        catch (ObjectLockedException)
                        {
                            Interlocked.Increment(ref locked);
                        }
                    }).ConfigureAwait(false);

                    // And again after the last delete: a writer that read the epoch during the sweep (its lease taken
                    // before ours was visible) sees it move at its commit and checks every chunk it reuses.
                    await RaiseEpochAsync(store, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    keptRecent += candidates.Count;
                }

                return new GcReport
                {
                    Snapshots = snapshots,
                    ChunksReferenced = marked.Count,
                    ChunksScanned = scanned,
                    ChunksRemoved = removed,
                    ChunksLocked = locked,
                    BytesFreed = freed,
                    ChunksKeptRecent = keptRecent,
                    ActiveWriters = writers,
                    Cutoff = cutoff,
                    DurationSeconds = stopwatch.Elapsed.TotalSeconds,
                };
            }
            finally
            {
                await sweepLease.EndAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            await markLease.EndAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Writes a new <c>locks/epoch</c> (a counter above the current one when it is one), acknowledged before any delete.</summary>
    private static async Task RaiseEpochAsync(IObjectStore store, CancellationToken cancellationToken)
    {
        var current = await ObjectStoreStack.ReadGenerationAsync(store, cancellationToken).ConfigureAwait(false);
        var next = long.TryParse(current, NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value + 1 : 1;
        await store.SaveAsync(ObjectStoreStack.Epoch, Encoding.UTF8.GetBytes(next.ToString(CultureInfo.InvariantCulture) + "\n"), default, cancellationToken).ConfigureAwait(false);
    }
}
