namespace Engine.Backup.Repository.Snapshots;

/// <summary>A snapshot has no device of the name asked for.</summary>
public sealed class DeviceNotFoundException : RepositoryException
{
    /// <summary>Creates the exception; the message lists the devices the snapshot has.</summary>
    public DeviceNotFoundException(SnapshotId snapshot, string device, string path, IEnumerable<string> devices)
        : base(path, $"snapshot {snapshot} has no disk '{device}' (it has: {string.Join(", ", devices)})")
    {
        Snapshot = snapshot;
        Device = device;
    }

    /// <summary>The snapshot.</summary>
    public SnapshotId Snapshot { get; }

    /// <summary>The device asked for.</summary>
    public string Device { get; }
}
