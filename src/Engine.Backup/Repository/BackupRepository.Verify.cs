using System.Collections.Concurrent;
using Engine.Backup.Containers.Archive;

namespace Engine.Backup.Repository;

public sealed partial class BackupRepository
{
    /// <summary>
    /// Verifies one snapshot, or every snapshot when <paramref name="snapshot"/> is null: reads each manifest, index and archive
    /// catalog (checksummed), then checks each distinct chunk once, in parallel: header and payload checksum, and with
    /// <paramref name="rehash"/> (the default) decompression and SHA-256 against its name. Every bad chunk is reported
    /// with the snapshots that use it.
    /// </summary>
    /// <exception cref="SnapshotNotFoundException">The snapshot asked for does not exist.</exception>
    public async Task<VerifyReport> VerifyAsync(SnapshotId? snapshot, IProgress<VerifyProgress>? progress, CancellationToken cancellationToken, bool rehash = true)
    {
        var users = new Dictionary<ChunkDigest, List<SnapshotId>>();
        var badSnapshots = new List<SnapshotProblem>();
        var checkedSnapshots = new List<SnapshotId>();
        if (snapshot is { } one)
        {
            one.Validate();
            if (!File.Exists(ManifestPath(one)))
            {
                throw new SnapshotNotFoundException(one, SnapshotPath(one));
            }

            CollectUsers(one, users, badSnapshots, checkedSnapshots);
        }
        else
        {
            foreach (var id in EnumerateSnapshotIds(null, null))
            {
                if (File.Exists(ManifestPath(id)))
                {
                    CollectUsers(id, users, badSnapshots, checkedSnapshots);
                }
            }
        }

        checkedSnapshots.Sort(CompareIds);
        var digests = new ChunkDigest[users.Count];
        users.Keys.CopyTo(digests, 0);
        var problems = new ConcurrentBag<ChunkProblem>();
        long chunksChecked = 0;
        long bytesChecked = 0;
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(digests, parallel, (digest, _) =>
        {
            var check = Chunks.Verify(digest, rehash);
            if (check != ChunkCheck.Ok)
            {
                var snapshots = users[digest];
                snapshots.Sort(CompareIds);
                problems.Add(new ChunkProblem(digest, Chunks.PathOf(digest), check, snapshots));
            }

            var bytes = Interlocked.Add(ref bytesChecked, Math.Max(0, Chunks.StoredLength(digest)));
            var count = Interlocked.Increment(ref chunksChecked);
            if (progress is not null && (count % 16 == 0 || count == digests.Length))
            {
                progress.Report(new VerifyProgress(count, digests.Length, bytes));
            }

            return ValueTask.CompletedTask;
        }).ConfigureAwait(false);

        var bad = problems.ToArray();
        Array.Sort(bad, static (a, b) => string.CompareOrdinal(a.Path, b.Path));
        return new VerifyReport
        {
            Snapshots = checkedSnapshots,
            ChunksChecked = chunksChecked,
            BytesChecked = bytesChecked,
            Rehashed = rehash,
            BadChunks = bad,
            BadSnapshots = badSnapshots,
        };
    }

    private void CollectUsers(SnapshotId id, Dictionary<ChunkDigest, List<SnapshotId>> users, List<SnapshotProblem> badSnapshots, List<SnapshotId> checkedSnapshots)
    {
        SnapshotManifest manifest;
        try
        {
            manifest = ReadManifest(id);
        }
        catch (SnapshotNotFoundException)
        {
            return; // deleted meanwhile
        }
        catch (RepositoryCorruptException e)
        {
            badSnapshots.Add(new SnapshotProblem(id, e.Path, e.Message));
            return;
        }

        checkedSnapshots.Add(id);
        foreach (var entry in manifest.Devices)
        {
            DeviceIndex index;
            try
            {
                index = ReadIndex(id, entry);
            }
            catch (RepositoryCorruptException e)
            {
                badSnapshots.Add(new SnapshotProblem(id, e.Path, e.Message));
                continue;
            }

            foreach (var digest in index.Digests)
            {
                AddUser(users, digest, id);
            }
        }

        if (manifest.Archive is { } archive)
        {
            try
            {
                CatalogReader.ForEachDigest(ArchiveCatalogPath(id, archive), archive.CatalogChecksum, digest => AddUser(users, digest, id));
            }
            catch (RepositoryCorruptException e)
            {
                badSnapshots.Add(new SnapshotProblem(id, e.Path, e.Message));
            }
        }
    }

    private static void AddUser(Dictionary<ChunkDigest, List<SnapshotId>> users, ChunkDigest digest, SnapshotId id)
    {
        if (digest.IsZero)
        {
            return;
        }

        if (!users.TryGetValue(digest, out var list))
        {
            users[digest] = [id];
        }
        else if (list[^1] != id)
        {
            list.Add(id);
        }
    }
}
