using Engine.Backup.Repository.ChunkObjects;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Snapshots;
using Engine.Backup.Repository.Storage;
using Engine.Backup.Repository.Storage.Cache;
using Engine.Backup.Repository.Storage.Stack;

namespace Engine.Backup.Repository.Backends;

/// <summary>
/// A repository in an object store (docs/storage-protocol.md): the same keys as the local layout
/// (<c>snapshots/TYPE/VMID/TIME/FILE</c>, <c>chunks/ab/abcd…</c>, <c>locks/…</c>). A writer builds its indexes and
/// catalog in a local scratch directory and uploads them at commit, after checking (fencing) that every chunk it
/// references survived any garbage collection that ran meanwhile, and after extending the chunks' retention when the
/// repository locks its snapshots; the manifest goes last. Snapshot metadata calls are synchronous at the facade because
/// its callers are; chunks go through the asynchronous <see cref="ObjectChunkStore"/>.
/// </summary>
internal sealed class ObjectSnapshotStorage : ISnapshotStorage
{
    /// <summary>The prefix of a garbage collection's lease under <c>locks/</c> while it marks.</summary>
    public const string GcLeasePrefix = "gc-";

    /// <summary>The prefix of a garbage collection's lease while it sweeps: writers wait for it to end before they start.</summary>
    public const string SweepLeasePrefix = "gc-sweep-";

    private const int ParallelRequests = 16;

    // How many later seconds a commit tries when other hosts committed the same snapshot id.
    private const int MaxCommitSeconds = 60;

    private readonly string _scratch;

    // The epoch the known-chunk cache was built under (read before the stack was, so never newer than the cache's).
    private string _generation;
    private int _disposed;

    /// <summary>
    /// Storage over <paramref name="store"/> (the built stack; owned), chunks compressed at
    /// <paramref name="compressionLevel"/>, snapshots locked for <paramref name="retainDays"/> days when set.
    /// </summary>
    public ObjectSnapshotStorage(IObjectStore store, int compressionLevel, int? retainDays, ObjectLockMode lockMode, string generation, LeaseTimes? leaseTimes = null)
    {
        LeaseTimes = leaseTimes ?? LeaseTimes.Default;
        _generation = generation;
        Store = store;
        ObjectChunks = new ObjectChunkStore(store, compressionLevel);
        RetainDays = retainDays;
        LockMode = lockMode;
        _scratch = System.IO.Directory.CreateTempSubdirectory("engine-objects-").FullName;
    }

    /// <summary>The store stack.</summary>
    public IObjectStore Store { get; }

    /// <summary>The chunk objects.</summary>
    public ObjectChunkStore ObjectChunks { get; }

    /// <summary>How long leases live, how often they are renewed, how long a writer waits for a sweep.</summary>
    public LeaseTimes LeaseTimes { get; }

    /// <summary>Days a snapshot's objects stay locked after its time; null without Object Lock.</summary>
    public int? RetainDays { get; }

    /// <summary>The Object Lock mode.</summary>
    public ObjectLockMode LockMode { get; }

    /// <inheritdoc/>
    public string Location => Store.Location;

    /// <inheritdoc/>
    public IRepositoryChunks Chunks => ObjectChunks;

    /// <summary>The known-chunk cache, which garbage collection and a moved epoch invalidate.</summary>
    public CachingObjectStore? Cache => Store as CachingObjectStore;

    /// <summary>
    /// How far beyond a snapshot's date its chunks' retention is extended: a quarter of the retention (at least a
    /// day), so backups within that time reuse a chunk without another request, at the price of keeping it locked
    /// that much longer.
    /// </summary>
    public TimeSpan RetentionSlack => TimeSpan.FromDays(Math.Max(1, ((RetainDays ?? 0) + 3) / 4));

    /// <summary>Until when a snapshot taken at <paramref name="time"/> is locked, or null.</summary>
    public DateTimeOffset? RetainUntil(DateTimeOffset time) => RetainDays is { } days ? time.AddDays(days) : null;

    /// <summary>A snapshot file's object.</summary>
    public static ObjectName NameOf(SnapshotId id, string fileName) =>
        new(ObjectKind.Snapshot, string.Concat(id.Type, "/", id.Vmid, "/", id.TimeText, "/", fileName));

    /// <inheritdoc/>
    public string WhereOf(SnapshotId id, string? fileName = null) =>
        string.Concat(Location.TrimEnd('/'), "/snapshots/", id.Type, "/", id.Vmid, "/", id.TimeText, fileName is null ? "" : "/" + fileName);

    /// <inheritdoc/>
    public IReadOnlyList<SnapshotId> ListCommitted(string? type, string? vmid) => Wait(async () =>
    {
        var ids = new List<SnapshotId>();
        await foreach (var (id, file) in ListSnapshotObjectsAsync(CancellationToken.None).ConfigureAwait(false))
        {
            if (file == LocalSnapshotStorage.ManifestFileName && (type is null || type == id.Type) && (vmid is null || vmid == id.Vmid))
            {
                ids.Add(id);
            }
        }

        return ids;
    });

    /// <summary>Every object under <c>snapshots/</c> whose key is <c>TYPE/VMID/TIME/FILE</c> with a well-formed id.</summary>
    public async IAsyncEnumerable<(SnapshotId Id, string File)> ListSnapshotObjectsAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var info in Store.ListAsync(ObjectKind.Snapshot, cancellationToken).ConfigureAwait(false))
        {
            var parts = info.Name.Name.Split('/');
            if (parts.Length == 4 && SnapshotId.IsValidType(parts[0]) && SnapshotId.IsValidVmid(parts[1]) &&
                SnapshotId.TryParseTime(parts[2], out var time))
            {
                var id = new SnapshotId(parts[0], parts[1], time);
                if (id.TimeText == parts[2])
                {
                    yield return (id, parts[3]);
                }
            }
        }
    }

    /// <summary>How many leases named <paramref name="prefix"/>… under <c>locks/</c> are live (written within their expiry).</summary>
    public async Task<int> LiveLeasesAsync(string prefix, CancellationToken cancellationToken)
    {
        var now = DateTimeOffset.UtcNow;
        var live = 0;
        await foreach (var info in Store.ListAsync(ObjectKind.Lock, cancellationToken).ConfigureAwait(false))
        {
            if (info.Name.Name.StartsWith(prefix, StringComparison.Ordinal) && LeaseTimes.IsLive(info.LastModified, now))
            {
                live++;
            }
        }

        return live;
    }

    /// <inheritdoc/>
    public bool IsCommitted(SnapshotId id) =>
        Wait(async () => await Store.StatAsync(NameOf(id, LocalSnapshotStorage.ManifestFileName), CancellationToken.None).ConfigureAwait(false) is not null);

    /// <inheritdoc/>
    public byte[]? ReadFile(SnapshotId id, string fileName) => Wait(() => ReadObjectAsync(NameOf(id, fileName), CancellationToken.None));

    /// <summary>An object's whole content, or null when it does not exist.</summary>
    public async Task<byte[]?> ReadObjectAsync(ObjectName name, CancellationToken cancellationToken)
    {
        try
        {
            if (await Store.StatAsync(name, cancellationToken).ConfigureAwait(false) is not { } info)
            {
                return null;
            }

            var bytes = new byte[info.Length];
            var read = await Store.LoadAsync(name, 0, bytes, cancellationToken).ConfigureAwait(false);
            return read == bytes.Length ? bytes : bytes[..read];
        }
        catch (ObjectNotFoundException)
        {
            return null;
        }
    }

    /// <inheritdoc/>
    public string LocalPathOf(SnapshotId id, string fileName)
    {
        var bytes = ReadFile(id, fileName) ?? throw new FileNotFoundException($"{WhereOf(id, fileName)} does not exist", WhereOf(id, fileName));
        var path = Path.Combine(_scratch, "read-" + Guid.NewGuid().ToString("N") + "-" + fileName);
        RepositoryFiles.WriteNew(path, bytes);
        return path;
    }

    /// <summary>
    /// Takes a writer lease, notes the epoch, and reserves the first second from <paramref name="id"/>'s on that no
    /// object of the guest uses (a LIST of the snapshots; two hosts backing up one guest in the same second is what the
    /// listing cannot rule out, and then the later commit moves to the next second: see <see cref="CommitAsync"/>).
    /// </summary>
    public SnapshotDraft Begin(SnapshotId id, CancellationToken cancellationToken) => Wait(async () =>
    {
        var lease = await ObjectWriterLease.TakeAsync(Store, LeaseTimes, cancellationToken).ConfigureAwait(false);
        try
        {
            // Write, then list: a sweep that started before our lease was visible is waited out; one that starts later
            // sees our lease and deletes nothing.
            await WaitForNoSweepAsync(cancellationToken).ConfigureAwait(false);

            var generation = await ObjectStoreStack.ReadGenerationAsync(Store, cancellationToken).ConfigureAwait(false);
            if (generation != Volatile.Read(ref _generation))
            {
                // A collection deleted chunks since the cache was filled: it must not vouch for any of them.
                Cache?.Invalidate();
                Volatile.Write(ref _generation, generation);
            }

            var taken = new HashSet<DateTimeOffset>();
            await foreach (var (existing, _) in ListSnapshotObjectsAsync(cancellationToken).ConfigureAwait(false))
            {
                if (existing.Type == id.Type && existing.Vmid == id.Vmid)
                {
                    taken.Add(existing.Time);
                }
            }

            while (taken.Contains(id.Time))
            {
                id = id with { Time = id.Time.AddSeconds(1) };
            }

            var directory = Path.Combine(_scratch, string.Concat("draft-", id.Type, "-", id.Vmid, "-", Guid.NewGuid().ToString("N")));
            RepositoryFiles.CreateDirectory(directory);
            return new SnapshotDraft(id, directory, lease, generation);
        }
        catch
        {
            lease.Dispose();
            throw;
        }
    });

    /// <inheritdoc/>
    public async Task<SnapshotId> CommitAsync(SnapshotDraft draft, Func<SnapshotId, byte[]> manifest, IReadOnlyCollection<ChunkDigest> chunks, CancellationToken cancellationToken)
    {
        // A writer whose lease lapsed (renewals failed, or the process was paused, for longer than the expiry) was
        // counted as dead: a sweep may have deleted chunks it reuses without raising the epoch after we read it last.
        if (draft.Lease is ObjectWriterLease { Lapsed: true } lapsed)
        {
            throw new RepositoryException(Location, $"{WhereOf(draft.Id)}: the backup's lease {Location.TrimEnd('/')}/{lapsed.Name.Key} was not renewed for over {LeaseTimes.Expiry.TotalMinutes:0.##} minutes, so a garbage collection may have deleted chunks it reuses; nothing was committed, run the backup again");
        }

        // Fencing: a garbage collection that ran since the writer started may have deleted a chunk it reused by
        // existence (or the cache vouched for); then every chunk is asked for again, past the cache, once no sweep
        // is deleting any more (one that is would raise the epoch again after its last delete).
        var generation = await ObjectStoreStack.ReadGenerationAsync(Store, cancellationToken).ConfigureAwait(false);
        if (generation != draft.Generation)
        {
            await WaitForNoSweepAsync(cancellationToken).ConfigureAwait(false);
            Cache?.Invalidate();
            var missing = await ObjectChunks.FirstMissingAsync(chunks, cancellationToken).ConfigureAwait(false);
            if (!missing.IsZero)
            {
                throw new ChunkMissingException(missing, ObjectChunks.KeyOf(missing));
            }
        }

        var until = RetainUntil(draft.Id.Time);
        if (until is { } date)
        {
            // Reused chunks are locked as long as this snapshot by extending their retention (one small request, no data);
            // new ones get theirs the same way. Each is extended with slack beyond this snapshot's date and the cache
            // remembers it, so the next backups skip the chunks still locked long enough.
            var known = Cache?.Cache;
            var extended = date + RetentionSlack;
            var parallel = new ParallelOptions { MaxDegreeOfParallelism = ParallelRequests, CancellationToken = cancellationToken };
            await Parallel.ForEachAsync(chunks.Where(c => !c.IsZero && !(known?.RetainedUntil(ObjectChunkStore.NameOf(c)) >= date)), parallel, async (digest, token) =>
            {
                var name = ObjectChunkStore.NameOf(digest);
                await Store.ExtendRetentionAsync(name, extended, LockMode, token).ConfigureAwait(false);
                known?.SetRetainedUntil(name, extended);
            }).ConfigureAwait(false);
        }

        // Every file is saved only where none is (If-None-Match, or a HEAD first on a versioned bucket): another host
        // committing the same id never gets its indexes overwritten by ours; we move to the next second instead.
        var options = new SaveOptions(IfAbsent: true, RetainUntil: until, LockMode: LockMode);
        var id = draft.Id;
        for (var attempt = 0; !await TryUploadAsync(id, draft.Directory, manifest(id), options, cancellationToken).ConfigureAwait(false); attempt++)
        {
            if (attempt >= MaxCommitSeconds)
            {
                throw new RepositoryException(Location, $"{WhereOf(draft.Id)}: other backups of {draft.Id.Type}/{draft.Id.Vmid} took every second up to {id.TimeText}; nothing was committed");
            }

            id = id with { Time = id.Time.AddSeconds(1) };
        }

        TryDeleteDirectory(draft.Directory);
        return id;
    }

    /// <summary>
    /// Uploads the draft's files and then the manifest under <paramref name="id"/>; false (after removing what it
    /// wrote) when another writer holds one of those objects already.
    /// </summary>
    private async Task<bool> TryUploadAsync(SnapshotId id, string directory, byte[] manifest, SaveOptions options, CancellationToken cancellationToken)
    {
        var written = new List<ObjectName>();
        foreach (var file in System.IO.Directory.GetFiles(directory).Select(f => (Path: f, Name: NameOf(id, Path.GetFileName(f))))
            .Append((Path: "", Name: NameOf(id, LocalSnapshotStorage.ManifestFileName))))
        {
            var bytes = file.Path.Length == 0 ? manifest : await File.ReadAllBytesAsync(file.Path, cancellationToken).ConfigureAwait(false);
            if (await Store.SaveAsync(file.Name, bytes, options, cancellationToken).ConfigureAwait(false) == SaveOutcome.AlreadyExists)
            {
                foreach (var name in written)
                {
                    try
                    {
                        await Store.RemoveAsync(name, CancellationToken.None).ConfigureAwait(false);
                    }
                    catch (ObjectStoreException)
                    {
                        // Retained, or the store is away: an unreferenced file under an id another host owns; its
                        // manifest does not name it.
                    }
                }

                return false;
            }

            written.Add(file.Name);
        }

        return true;
    }

    /// <inheritdoc/>
    public void Abort(SnapshotDraft draft)
    {
        try
        {
            TryDeleteDirectory(draft.Directory);
        }
        finally
        {
            draft.Lease.Dispose();
        }
    }

    /// <inheritdoc/>
    public void Delete(SnapshotId id) => Wait(async () =>
    {
        var manifest = NameOf(id, LocalSnapshotStorage.ManifestFileName);
        try
        {
            if (!await Store.RemoveAsync(manifest, CancellationToken.None).ConfigureAwait(false))
            {
                throw new SnapshotNotFoundException(id, WhereOf(id));
            }
        }
        catch (ObjectLockedException e)
        {
            throw new SnapshotLockedException(id, WhereOf(id), e);
        }

        var files = new List<ObjectName>();
        await foreach (var (other, file) in ListSnapshotObjectsAsync(CancellationToken.None).ConfigureAwait(false))
        {
            if (other == id)
            {
                files.Add(NameOf(id, file));
            }
        }

        foreach (var name in files)
        {
            await Store.RemoveAsync(name, CancellationToken.None).ConfigureAwait(false);
        }

        return true;
    });

    /// <summary>Nothing to do: a chunk is durable once its PUT was answered.</summary>
    public void SyncChunks()
    {
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Wait(async () =>
            {
                await Store.DisposeAsync().ConfigureAwait(false);
                return true;
            });
            TryDeleteDirectory(_scratch);
        }
    }

    /// <summary>Runs an asynchronous store call for a synchronous caller, off the caller's context.</summary>
    private static T Wait<T>(Func<Task<T>> call) => Blocking.Wait(call);

    /// <summary>Waits (up to <see cref="LeaseTimes.SweepWait"/>) until no live sweep lease exists.</summary>
    private async Task WaitForNoSweepAsync(CancellationToken cancellationToken)
    {
        var waited = TimeSpan.Zero;
        while (await LiveLeasesAsync(SweepLeasePrefix, cancellationToken).ConfigureAwait(false) > 0)
        {
            if (waited >= LeaseTimes.SweepWait)
            {
                throw new RepositoryException(Location, $"{Location}: a garbage collection has been deleting chunks for over {LeaseTimes.SweepWait.TotalMinutes:0.##} minutes (a lease locks/{SweepLeasePrefix}…); try again later");
            }

            await Task.Delay(LeaseTimes.SweepPoll, cancellationToken).ConfigureAwait(false);
            waited += LeaseTimes.SweepPoll;
        }
    }

    private static void TryDeleteDirectory(string directory)
    {
        try
        {
            System.IO.Directory.Delete(directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Scratch space: the temporary folder's owner cleans what is left.
        }
    }
}
