namespace Engine.Provider.Api;

/// <summary><c>backup_vm</c>'s <c>$info</c>.</summary>
public sealed class BackupVmInfo
{
    /// <summary><c>bandwidth-limit</c> in bytes per second; 0 means none.</summary>
    public long BandwidthLimit { get; init; }

    /// <summary><c>firewall-config</c>, raw text; null when the guest has none.</summary>
    public string? FirewallConfig { get; init; }
}
