using System.Diagnostics;
using Engine.Backup.Containers.Archive;

namespace Engine.Backup.Repository;

public sealed partial class BackupRepository
{
    /// <summary>
    /// Mark and sweep, safe while backups run. The cutoff is the earlier of now and the oldest running writer's start,
    /// minus <see cref="RepositoryOptions.GcGrace"/>. Mark: every complete snapshot's indexes and
    /// archive catalogs. Sweep: unmarked chunk
    /// files last touched before the cutoff are deleted, each re-checked under the exclusive chunk lock so a writer's
    /// touch cannot slip between the check and the unlink. Abandoned snapshot directories and temporary files older
    /// than the cutoff go too.
    /// </summary>
    /// <exception cref="RepositoryCorruptException">A manifest or index is unreadable: nothing is deleted, since the references are unknown.</exception>
    public Task<GcReport> CollectGarbageAsync(CancellationToken cancellationToken) =>
        Task.Run(() => CollectGarbage(cancellationToken), cancellationToken);

    private GcReport CollectGarbage(CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        var oldest = DateTimeOffset.UtcNow;
        var writers = WriterRegistration.ActiveStarts(WritersDirectory);
        foreach (var start in writers)
        {
            oldest = start < oldest ? start : oldest;
        }

        var cutoff = oldest - _options.GcGrace;
        var marked = Mark(out var snapshots, cancellationToken);
        var sweep = Sweep(marked, cutoff.UtcDateTime, cancellationToken);
        var incomplete = RemoveIncompleteSnapshots(cutoff.UtcDateTime);
        var temporary = RemoveTemporaryFiles(cutoff.UtcDateTime);
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
        snapshots = 0;
        foreach (var id in EnumerateSnapshotIds(null, null))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var manifestPath = ManifestPath(id);
            if (!File.Exists(manifestPath))
            {
                continue;
            }

            SnapshotManifest manifest;
            try
            {
                manifest = ReadManifestFile(id, manifestPath);
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
                catch (RepositoryCorruptException) when (!File.Exists(manifestPath))
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
                catch (RepositoryCorruptException) when (!File.Exists(manifestPath))
                {
                    continue; // deleted meanwhile
                }
            }

            snapshots++;
        }

        return marked;
    }

    private SweepCounts Sweep(HashSet<ChunkDigest> marked, DateTime cutoff, CancellationToken cancellationToken)
    {
        var counts = new SweepCounts();
        var candidates = new List<string>();
        foreach (var prefix in System.IO.Directory.EnumerateDirectories(Chunks.Directory))
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
            using (ChunkLock.Exclusive(Chunks.LockPath))
            {
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
