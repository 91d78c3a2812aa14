using Engine.Provider.Api;

namespace Engine.Provider.Reference;

/// <summary>How <see cref="EngineRepositoryProvider"/> asks PVE for data.</summary>
public sealed class EngineRepositoryProviderOptions
{
    /// <summary>What <c>backup_get_mechanism</c> answers for VMs: <c>nbd</c> (default) or <c>file-handle</c>.</summary>
    public string VmMechanism { get; init; } = BackupMechanisms.Nbd;

    /// <summary>Whether backed-up ranges are discarded at the source (PVE's fleecing image shrinks); on by default.</summary>
    public bool DiscardSource { get; init; } = true;

    /// <summary>Directory for restore sockets and FUSE mounts; the system temporary directory when null.</summary>
    public string? RuntimeDirectory { get; init; }
}
