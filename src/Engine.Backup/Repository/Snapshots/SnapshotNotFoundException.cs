namespace Engine.Backup.Repository.Snapshots;

/// <summary>No complete snapshot with that id exists in the repository.</summary>
public sealed class SnapshotNotFoundException : RepositoryException
{
    /// <summary>Creates the exception for <paramref name="id"/>, whose directory would be <paramref name="path"/>.</summary>
    public SnapshotNotFoundException(SnapshotId id, string path)
        : base(path, $"snapshot {id} not found ({path})")
    {
        Snapshot = id;
    }

    /// <summary>The snapshot asked for.</summary>
    public SnapshotId Snapshot { get; }
}
