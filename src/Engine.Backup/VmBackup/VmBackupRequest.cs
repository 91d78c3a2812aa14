using Engine.Sources;

namespace Engine.Backup.VmBackup;

/// <summary>One guest's backup: its disks and configuration, as <c>backup_vm</c> receives them.</summary>
public sealed class VmBackupRequest
{
    /// <summary>The guest id, digits only.</summary>
    public required string Vmid { get; init; }

    /// <summary>The disks, each with a distinct device name.</summary>
    public required IReadOnlyList<IVolumeSource> Volumes { get; init; }

    /// <summary>The guest configuration text, stored verbatim.</summary>
    public string? GuestConfig { get; init; }

    /// <summary>The firewall configuration text, when the guest has one.</summary>
    public string? FirewallConfig { get; init; }

    /// <summary>The snapshot time; now when null.</summary>
    public DateTimeOffset? Time { get; init; }
}
