using System.Text.Json.Serialization;

namespace Engine.Backup.Repository.Snapshots;

/// <summary>
/// The <c>manifest.json</c> of a snapshot: what was backed up and how. A snapshot exists exactly when its manifest
/// does. Read-only to callers: the backup engines fill it in before the snapshot commits (the setters are internal;
/// <c>[JsonInclude]</c> lets the repository's JSON context read it back).
/// </summary>
public sealed class SnapshotManifest
{
    /// <summary>An empty one, for the backup engines to fill in and for the JSON context to read into.</summary>
    [JsonConstructor]
    internal SnapshotManifest()
    {
    }

    /// <summary>The snapshot's id.</summary>
    [JsonInclude]
    public SnapshotId Id { get; internal set; }

    /// <summary>The guest type (<c>vm</c> or <c>ct</c>).</summary>
    [JsonInclude]
    public string Type { get; internal set; } = "vm";

    /// <summary>The guest id.</summary>
    [JsonInclude]
    public string Vmid { get; internal set; } = "";

    /// <summary>When the backup started (UTC).</summary>
    [JsonInclude]
    public DateTimeOffset Time { get; internal set; }

    /// <summary>The snapshot this one is incremental to (whose bitmap lineage it continues), or null for a full backup.</summary>
    [JsonInclude]
    public SnapshotId? Parent { get; internal set; }

    /// <summary>The guest configuration file's text, or null.</summary>
    [JsonInclude]
    public string? GuestConfig { get; internal set; }

    /// <summary>The guest firewall configuration's text, or null.</summary>
    [JsonInclude]
    public string? FirewallConfig { get; internal set; }

    /// <summary>Bytes read, reused and stored.</summary>
    [JsonInclude]
    public SnapshotStats Stats { get; internal set; } = new();

    /// <summary>The devices, in the order they were added.</summary>
    [JsonInclude]
    public IReadOnlyList<DeviceEntry> Devices { get; internal set; } = [];

    /// <summary>The file-level archive of a container snapshot, or null (a VM snapshot holds devices only).</summary>
    [JsonInclude]
    public ArchiveEntry? Archive { get; internal set; }

    /// <summary>Free-form annotations (provider notes, tool versions).</summary>
    [JsonInclude]
    public IDictionary<string, string> Extra { get; internal set; } = new SortedDictionary<string, string>(StringComparer.Ordinal);
}
