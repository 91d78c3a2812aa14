namespace Engine.Backup.Repository;

/// <summary>
/// The <c>manifest.json</c> of a snapshot: what was backed up and how. A snapshot exists exactly when its manifest
/// does. Mutable only through a <see cref="SnapshotWriter"/> before it commits.
/// </summary>
public sealed class SnapshotManifest
{
    /// <summary>The snapshot's id.</summary>
    public SnapshotId Id { get; set; }

    /// <summary>The guest type (<c>vm</c> or <c>ct</c>).</summary>
    public string Type { get; set; } = "vm";

    /// <summary>The guest id.</summary>
    public string Vmid { get; set; } = "";

    /// <summary>When the backup started (UTC).</summary>
    public DateTimeOffset Time { get; set; }

    /// <summary>The snapshot this one is incremental to (whose bitmap lineage it continues), or null for a full backup.</summary>
    public SnapshotId? Parent { get; set; }

    /// <summary>The guest configuration file's text, or null.</summary>
    public string? GuestConfig { get; set; }

    /// <summary>The guest firewall configuration's text, or null.</summary>
    public string? FirewallConfig { get; set; }

    /// <summary>Bytes read, reused and stored.</summary>
    public SnapshotStats Stats { get; set; } = new();

    /// <summary>The devices, in the order they were added.</summary>
    public IReadOnlyList<DeviceEntry> Devices { get; set; } = [];

    /// <summary>The file-level archive of a container snapshot, or null (a VM snapshot holds devices only).</summary>
    public ArchiveEntry? Archive { get; set; }

    /// <summary>Free-form annotations (provider notes, tool versions).</summary>
    public IDictionary<string, string> Extra { get; set; } = new SortedDictionary<string, string>(StringComparer.Ordinal);
}
