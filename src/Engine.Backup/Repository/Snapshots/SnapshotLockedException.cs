namespace Engine.Backup.Repository.Snapshots;

/// <summary>A snapshot's objects are retained (S3 Object Lock) and the store refused to delete them before their date.</summary>
public sealed class SnapshotLockedException : RepositoryException
{
    /// <summary>Creates the exception for <paramref name="id"/>, stored at <paramref name="path"/>.</summary>
    public SnapshotLockedException(SnapshotId id, string path, Exception? innerException = null)
        : base(path, $"snapshot {id} is locked (Object Lock) and cannot be deleted before its retention ends ({path})", innerException)
    {
        Snapshot = id;
    }

    /// <summary>The snapshot asked for.</summary>
    public SnapshotId Snapshot { get; }
}
