using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Snapshots;

namespace Engine.Backup.Repository.Backends;

/// <summary>
/// Where a repository's snapshots (manifest, device indexes, catalog, writer leases) and chunks live: the local
/// directory (<see cref="LocalSnapshotStorage"/>, the layout and fast chunk files as always) or an object store
/// (<see cref="ObjectSnapshotStorage"/>, any <c>IObjectStore</c> the store stack built). <see cref="BackupRepository"/>
/// is the one facade over both. Snapshot files are small and read whole; a reader that parses a file by path (device
/// indexes, catalogs) gets a local copy from <see cref="LocalPathOf"/>.
/// </summary>
internal interface ISnapshotStorage : IDisposable
{
    /// <summary>Where the repository is, for messages: its directory or <c>s3://BUCKET/PREFIX</c>.</summary>
    string Location { get; }

    /// <summary>The chunks.</summary>
    IRepositoryChunks Chunks { get; }

    /// <summary>Ids of the complete snapshots (those with a manifest), in no particular order, optionally of one type and/or guest.</summary>
    IReadOnlyList<SnapshotId> ListCommitted(string? type, string? vmid);

    /// <summary>Whether the snapshot is complete (its manifest exists).</summary>
    bool IsCommitted(SnapshotId id);

    /// <summary>A snapshot file's bytes, or null when it does not exist.</summary>
    byte[]? ReadFile(SnapshotId id, string fileName);

    /// <summary>A local file holding a snapshot file's bytes (the file itself in a local repository, a fresh download otherwise).</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    string LocalPathOf(SnapshotId id, string fileName);

    /// <summary>Where a snapshot (or one of its files) is, for messages.</summary>
    string WhereOf(SnapshotId id, string? fileName = null);

    /// <summary>Registers a writer and reserves <paramref name="id"/>, or the next free second when it is taken.</summary>
    SnapshotDraft Begin(SnapshotId id, CancellationToken cancellationToken);

    /// <summary>
    /// Makes the draft's files durable and then writes <paramref name="manifest"/>, last, so the snapshot becomes
    /// visible only once everything it references is acknowledged. <paramref name="chunks"/> are the chunks it
    /// references (an object store with Object Lock extends their retention first). Returns the id committed: an
    /// object store moves to the next second when another host committed the same id meanwhile, so
    /// <paramref name="manifest"/> makes the manifest's bytes for an id.
    /// </summary>
    Task<SnapshotId> CommitAsync(SnapshotDraft draft, Func<SnapshotId, byte[]> manifest, IReadOnlyCollection<ChunkDigest> chunks, CancellationToken cancellationToken);

    /// <summary>Discards an uncommitted draft and ends its lease.</summary>
    void Abort(SnapshotDraft draft);

    /// <summary>Deletes a complete snapshot (its manifest first, so it is never half visible).</summary>
    /// <exception cref="SnapshotNotFoundException">No such complete snapshot.</exception>
    /// <exception cref="SnapshotLockedException">Object Lock keeps it until its date.</exception>
    void Delete(SnapshotId id);

    /// <summary>Makes every chunk written so far durable (syncfs locally; an object store's PUT already is).</summary>
    void SyncChunks();
}
