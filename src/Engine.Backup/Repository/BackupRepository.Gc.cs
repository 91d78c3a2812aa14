using System.Diagnostics;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Formats;
using Engine.Backup.Repository.Snapshots;

namespace Engine.Backup.Repository;

public sealed partial class BackupRepository
{
    /// <summary>
    /// Mark and sweep, safe while backups run. Mark: every complete snapshot's indexes and archive catalogs. Sweep:
    /// unmarked chunk files last touched before the chunk cutoff are deleted, each re-checked under the exclusive chunk
    /// lock so a writer's touch cannot slip between the check and the unlink. The grace
    /// (<see cref="RepositoryOptions.GcGrace"/>) protects live writers only: while one runs, the chunk cutoff is the
    /// oldest live writer's start minus the grace; with none (a failed or finished backup is not a writer: its
    /// <c>writers/</c> file is unlocked) it is now, so the space of a dead backup is freed at once. A writer starting
    /// meanwhile registers before it writes or touches a chunk, so what it uses is newer than that cutoff. Abandoned
    /// snapshot directories and temporary files go once older than the grace.
    /// </summary>
    /// <exception cref="RepositoryCorruptException">A manifest or index is unreadable: nothing is deleted, since the references are unknown.</exception>
    public Task<GcReport> CollectGarbageAsync(CancellationToken cancellationToken) => Objects is { } objects
        ? CollectObjectGarbageAsync(objects, cancellationToken)
        : Task.Run(() => CollectGarbage(cancellationToken), cancellationToken);

    /// <summary>
    /// File timestamps come from the kernel's coarse clock, a tick behind the one <see cref="DateTimeOffset.UtcNow"/>
    /// reads: a chunk touched just after the collection started may carry a time just before it.
    /// </summary>
    private static readonly TimeSpan TimestampSlack = TimeSpan.FromMilliseconds(100);

    private GcReport CollectGarbage(CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        var oldest = DateTimeOffset.UtcNow;
        var writers = WriterRegistration.ActiveStarts(WritersDirectory);
        foreach (var start in writers)
        {
            oldest = start < oldest ? start : oldest;
        }

        var cutoff = writers.Count == 0 ? oldest - TimestampSlack : oldest - _options.GcGrace;

        // Files in tmp/ and snapshot directories are made before their writer registers (its own writers/ entry, a
        // reservation) or by operations that never register (a deletion): they keep the grace in every case.
        var leftoverCutoff = oldest - _options.GcGrace;
        var marked = Mark(out var snapshots, cancellationToken);
        var sweep = Sweep(marked, cutoff.UtcDateTime, leftoverCutoff.UtcDateTime, cancellationToken);
        var incomplete = RemoveIncompleteSnapshots(leftoverCutoff.UtcDateTime);
        var temporary = RemoveTemporaryFiles(leftoverCutoff.UtcDateTime);
        return new GcReport
        {
            Snapshots = snapshots,
            ChunksReferenced = marked.Count,
            ChunksScanned = sweep.Scanned,
            ChunksRemoved = sweep.Removed,
            BytesFreed = sweep.BytesFreed,
            ChunksKeptRecent = sweep.KeptRecent,
            IncompleteSnapshotsRemoved = incomplete,
            TemporaryFilesRemoved = temporary,
            ActiveWriters = writers.Count,
            Cutoff = cutoff,
            DurationSeconds = stopwatch.Elapsed.TotalSeconds,
        };
    }

    /// <summary>
    /// Collects every digest complete snapshots refer to. The marks live in memory, not in chunk mtimes: the sweep
    /// consults this set, so touching millions of referenced chunks would cost time and prove nothing.
    /// </summary>
    private HashSet<ChunkDigest> Mark(out int snapshots, CancellationToken cancellationToken)
    {
        var marked = new HashSet<ChunkDigest>();
        snapshots = Mark(_storage.ListCommitted(null, null), marked, cancellationToken);
        return marked;
    }

    /// <summary>Adds the chunks of the complete snapshots among <paramref name="ids"/> to <paramref name="marked"/>; returns how many were complete.</summary>
    private int Mark(IEnumerable<SnapshotId> ids, HashSet<ChunkDigest> marked, CancellationToken cancellationToken)
    {
        var snapshots = 0;
        foreach (var id in ids)
        {
            cancellationToken.ThrowIfCancellationRequested();
            SnapshotManifest manifest;
            try
            {
                manifest = ReadManifest(id);
            }
            catch (SnapshotNotFoundException)
            {
                continue; // deleted meanwhile
            }

            foreach (var entry in manifest.Devices)
            {
                DeviceIndex index;
                try
                {
                    index = ReadIndex(id, entry);
                }
                catch (RepositoryCorruptException) when (!IsCommitted(id))
                {
                    break; // deleted meanwhile
                }

                foreach (var digest in index.Digests)
                {
                    if (!digest.IsZero)
                    {
                        marked.Add(digest);
                    }
                }
            }

            if (manifest.Archive is { } archive)
            {
                try
                {
                    CatalogReader.ForEachDigest(ArchiveCatalogPath(id, archive), archive.CatalogChecksum, digest => marked.Add(digest));
                }
                catch (RepositoryCorruptException) when (!IsCommitted(id))
                {
                    continue; // deleted meanwhile
                }
            }

            snapshots++;
        }

        return snapshots;
    }

    private SweepCounts Sweep(HashSet<ChunkDigest> marked, DateTime cutoff, DateTime graceCutoff, CancellationToken cancellationToken)
    {
        var counts = new SweepCounts();
        var candidates = new List<string>();
        foreach (var prefix in System.IO.Directory.EnumerateDirectories(LocalChunks.Directory))
        {
            cancellationToken.ThrowIfCancellationRequested();
            candidates.Clear();
            foreach (var path in System.IO.Directory.EnumerateFiles(prefix))
            {
                if (!ChunkDigest.TryParse(Path.GetFileName(path.AsSpan()), out var digest))
                {
                    continue;
                }

                counts.Scanned++;
                if (marked.Contains(digest))
                {
                    continue;
                }

                if (File.GetLastWriteTimeUtc(path) < cutoff)
                {
                    candidates.Add(path);
                }
                else
                {
                    counts.KeptRecent++;
                }
            }

            if (candidates.Count == 0)
            {
                continue;
            }

            // Writers touch and rename under the shared lock: re-check each candidate under the exclusive one.
            using (ChunkLock.Exclusive(LocalChunks.LockPath))
            {
                // The short cutoff of a repository without writers trusts file times to a tenth of a second; a writer
                // that registered since the collection started brings the grace back before anything more goes.
                if (cutoff > graceCutoff && WriterRegistration.ActiveStarts(WritersDirectory).Count > 0)
                {
                    cutoff = graceCutoff;
                }

                foreach (var path in candidates)
                {
                    var info = new FileInfo(path);
                    if (!info.Exists)
                    {
                        continue;
                    }

                    if (info.LastWriteTimeUtc >= cutoff)
                    {
                        counts.KeptRecent++;
                        continue;
                    }

                    var length = info.Length;
                    File.Delete(path);
                    counts.Removed++;
                    counts.BytesFreed += length;
                }
            }
        }

        return counts;
    }

    /// <summary>Snapshot directories without a manifest, created before the cutoff: their writer is gone.</summary>
    private int RemoveIncompleteSnapshots(DateTime cutoff)
    {
        var removed = 0;
        foreach (var id in EnumerateSnapshotIds(null, null))
        {
            var directory = SnapshotPath(id);
            if (File.Exists(Path.Combine(directory, ManifestFileName)) || System.IO.Directory.GetLastWriteTimeUtc(directory) >= cutoff)
            {
                continue;
            }

            try
            {
                System.IO.Directory.Delete(directory, recursive: true);
                removed++;
            }
            catch (DirectoryNotFoundException)
            {
                // removed by someone else meanwhile
            }
        }

        return removed;
    }

    private int RemoveTemporaryFiles(DateTime cutoff)
    {
        var removed = 0;
        foreach (var entry in new DirectoryInfo(TmpDirectory).EnumerateFileSystemInfos())
        {
            if (entry.LastWriteTimeUtc >= cutoff)
            {
                continue;
            }

            try
            {
                if (entry is DirectoryInfo directory)
                {
                    directory.Delete(recursive: true);
                }
                else
                {
                    entry.Delete();
                }

                removed++;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // being removed by its owner (a snapshot deletion) right now
            }
        }

        return removed;
    }

    private sealed class SweepCounts
    {
        public long Scanned { get; set; }

        public long Removed { get; set; }

        public long BytesFreed { get; set; }

        public long KeptRecent { get; set; }
    }
}
