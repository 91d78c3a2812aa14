namespace Engine.Provider.Api;

/// <summary><c>$info</c> of the container backup calls.</summary>
public sealed class BackupContainerInfo
{
    /// <summary><c>directory</c>: the container's filesystem snapshot.</summary>
    public string? Directory { get; init; }

    /// <summary><c>sources</c>: <c>.</c> or <c>./mp</c> paths below the directory.</summary>
    public IReadOnlyList<string> Sources { get; init; } = [];

    /// <summary><c>backup-user-id</c>.</summary>
    public long? BackupUserId { get; init; }

    /// <summary><c>firewall-config</c>; always present for containers, possibly empty.</summary>
    public string FirewallConfig { get; init; } = "";

    /// <summary><c>bandwidth-limit</c> in bytes per second; 0 means none.</summary>
    public long BandwidthLimit { get; init; }
}
