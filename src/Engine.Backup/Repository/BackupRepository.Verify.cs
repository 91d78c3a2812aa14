using System.Collections.Concurrent;
using Engine.Backup.Repository.Backends;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Formats;
using Engine.Backup.Repository.Snapshots;

namespace Engine.Backup.Repository;

public sealed partial class BackupRepository
{
    /// <summary>
    /// Verifies one snapshot, or every snapshot when <paramref name="snapshot"/> is null: reads each manifest, index and archive
    /// catalog (checksummed), then checks each distinct chunk once, in parallel: header and payload checksum, and with
    /// <paramref name="rehash"/> (the default) decompression and SHA-256 against its name. Without it, a chunk whose header
    /// no longer carries the payload checksum its indexes recorded (a file copied over another) is rehashed too. Every bad
    /// chunk is reported with the snapshots that use it.
    /// </summary>
    /// <exception cref="SnapshotNotFoundException">The snapshot asked for does not exist.</exception>
    public async Task<VerifyReport> VerifyAsync(SnapshotId? snapshot, IProgress<VerifyProgress>? progress, CancellationToken cancellationToken, bool rehash = true)
    {
        var users = new Dictionary<ChunkDigest, ChunkUse>();
        var badSnapshots = new List<SnapshotProblem>();
        var checkedSnapshots = new List<SnapshotId>();
        if (snapshot is { } one)
        {
            one.Validate();
            if (!IsCommitted(one))
            {
                throw new SnapshotNotFoundException(one, SnapshotPath(one));
            }

            CollectUsers(one, users, badSnapshots, checkedSnapshots);
        }
        else
        {
            foreach (var id in _storage.ListCommitted(null, null))
            {
                CollectUsers(id, users, badSnapshots, checkedSnapshots);
            }
        }

        checkedSnapshots.Sort(CompareIds);
        var digests = new ChunkDigest[users.Count];
        users.Keys.CopyTo(digests, 0);
        var problems = new ConcurrentBag<ChunkProblem>();
        long chunksChecked = 0;
        long bytesChecked = 0;
        // An object store is asked concurrently (each check is a GET), a local disk per core; a quick check of an object
        // store lists the chunks once and checks existence and length from the listing.
        var stored = Objects is { } objects ? await ListStoredLengthsAsync(objects, cancellationToken).ConfigureAwait(false) : null;
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = stored is null ? Environment.ProcessorCount : 16, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(digests, parallel, async (digest, token) =>
        {
            var use = users[digest];
            var check = stored is null || rehash || use.Disputed
                ? await Chunks.VerifyAsync(digest, rehash || use.Disputed, use.PayloadChecksum, token).ConfigureAwait(false)
                : stored.ContainsKey(digest) ? ChunkCheck.Ok : ChunkCheck.Missing;
            if (check != ChunkCheck.Ok)
            {
                var snapshots = use.Snapshots;
                snapshots.Sort(CompareIds);
                problems.Add(new ChunkProblem(digest, Chunks.PathOf(digest), check, snapshots));
            }

            var length = stored is null ? LocalChunks.StoredLength(digest) : stored.GetValueOrDefault(digest, -1);
            var bytes = Interlocked.Add(ref bytesChecked, Math.Max(0, length));
            var count = Interlocked.Increment(ref chunksChecked);
            if (progress is not null && (count % 16 == 0 || count == digests.Length))
            {
                progress.Report(new VerifyProgress(count, digests.Length, bytes));
            }
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

    /// <summary>Every chunk object's stored length, from one listing.</summary>
    private static async Task<Dictionary<ChunkDigest, long>> ListStoredLengthsAsync(ObjectSnapshotStorage objects, CancellationToken cancellationToken)
    {
        var lengths = new Dictionary<ChunkDigest, long>();
        await foreach (var info in objects.ObjectChunks.ListAsync(cancellationToken).ConfigureAwait(false))
        {
            lengths[info.Digest] = info.StoredLength;
        }

        return lengths;
    }

    private void CollectUsers(SnapshotId id, Dictionary<ChunkDigest, ChunkUse> users, List<SnapshotProblem> badSnapshots, List<SnapshotId> checkedSnapshots)
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

            for (var i = 0; i < index.ChunkCount; i++)
            {
                AddUser(users, index[i], index.PayloadChecksum(i), id);
            }
        }

        if (manifest.Archive is { } archive)
        {
            try
            {
                CatalogReader.ForEachDigest(ArchiveCatalogPath(id, archive), archive.CatalogChecksum, digest => AddUser(users, digest, ChunkStore.UnknownPayloadChecksum, id));
            }
            catch (RepositoryCorruptException e)
            {
                badSnapshots.Add(new SnapshotProblem(id, e.Path, e.Message));
            }
        }
    }

    private static void AddUser(Dictionary<ChunkDigest, ChunkUse> users, ChunkDigest digest, ulong payloadChecksum, SnapshotId id)
    {
        if (digest.IsZero)
        {
            return;
        }

        if (!users.TryGetValue(digest, out var use))
        {
            users[digest] = use = new ChunkUse();
        }

        use.Add(id, payloadChecksum);
    }

    /// <summary>The snapshots that use one chunk, and the payload checksum their indexes recorded for it.</summary>
    private sealed class ChunkUse
    {
        public List<SnapshotId> Snapshots { get; } = new(1);

        /// <summary>The recorded checksum, or <see cref="ChunkStore.UnknownPayloadChecksum"/> when no index recorded one.</summary>
        public ulong PayloadChecksum { get; private set; }

        /// <summary>Indexes recorded different checksums (the file was rewritten between them): only a rehash can settle it.</summary>
        public bool Disputed { get; private set; }

        public void Add(SnapshotId id, ulong payloadChecksum)
        {
            if (Snapshots.Count == 0 || Snapshots[^1] != id)
            {
                Snapshots.Add(id);
            }

            if (payloadChecksum == ChunkStore.UnknownPayloadChecksum)
            {
                return;
            }

            if (PayloadChecksum == ChunkStore.UnknownPayloadChecksum)
            {
                PayloadChecksum = payloadChecksum;
            }
            else if (PayloadChecksum != payloadChecksum)
            {
                Disputed = true;
            }
        }
    }
}
