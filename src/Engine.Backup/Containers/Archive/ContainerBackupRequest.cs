using Engine.Backup.Repository;
using Engine.Backup.Repository.Snapshots;

namespace Engine.Backup.Containers.Archive;

/// <summary>One container's backup, as <c>backup_container</c> with mechanism <c>directory</c> receives it.</summary>
public sealed class ContainerBackupRequest
{
    /// <summary>The guest id, digits only.</summary>
    public required string Vmid { get; init; }

    /// <summary>The directory holding the container's root filesystem (a snapshot of it, or the live tree when suspended).</summary>
    public required string Directory { get; init; }

    /// <summary>The parts to archive, relative to <see cref="Directory"/>: <c>.</c> and <c>./mp/...</c>; empty means <c>.</c>.</summary>
    public IReadOnlyList<string> Sources { get; init; } = ["."];

    /// <summary>vzdump exclude patterns (see <see cref="Walking.ExcludePattern"/>).</summary>
    public IReadOnlyList<string> ExcludePatterns { get; init; } = [];

    /// <summary>The container configuration text, stored verbatim.</summary>
    public string? GuestConfig { get; init; }

    /// <summary>The firewall configuration text, when the guest has one.</summary>
    public string? FirewallConfig { get; init; }

    /// <summary>Read rate limit in bytes per second; 0 is unlimited.</summary>
    public long BandwidthLimit { get; init; }

    /// <summary>The snapshot time; now when null.</summary>
    public DateTimeOffset? Time { get; init; }

    /// <summary>Chunks compressed and stored at once; 0 means four per core.</summary>
    public int Parallelism { get; init; }

    /// <summary>
    /// Read every file, even one unchanged since the reference backup (whose chunks would otherwise be reused unread).
    /// </summary>
    public bool FullRead { get; init; }

    /// <summary>
    /// The snapshot whose catalog tells which files are unchanged; null means the newest <c>ct/&lt;vmid&gt;</c> snapshot.
    /// </summary>
    public SnapshotId? Base { get; init; }

    /// <summary>
    /// The repository holding <see cref="Base"/> when it is not the one written to (a staging repository over the main
    /// chunk store); null means the one written to.
    /// </summary>
    public BackupRepository? BaseRepository { get; init; }
}
