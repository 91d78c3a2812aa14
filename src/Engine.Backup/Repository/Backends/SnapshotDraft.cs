using Engine.Backup.Repository.Snapshots;

namespace Engine.Backup.Repository.Backends;

/// <summary>
/// A snapshot being written: the local directory its indexes and catalog are written into (the snapshot's own
/// directory in a local repository, a scratch directory uploaded at commit for an object store) and the writer's
/// lease that garbage collection respects.
/// </summary>
/// <param name="Id">The snapshot's id (its time may have moved to the next free second).</param>
/// <param name="Directory">Where the writer puts its index and catalog files.</param>
/// <param name="Lease">The writer's registration.</param>
/// <param name="Generation">The object store's garbage-collection epoch when the writer started (null: local).</param>
internal sealed record SnapshotDraft(SnapshotId Id, string Directory, IWriterLease Lease, string? Generation = null);
