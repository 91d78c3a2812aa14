using Engine.Provider.Api;

namespace Engine.Provider.Repository;

/// <summary>How <see cref="EngineRepositoryProvider"/> asks PVE for data.</summary>
public sealed class EngineRepositoryProviderOptions
{
    /// <summary>What <c>backup_get_mechanism</c> answers for VMs: <c>nbd</c> (default) or <c>file-handle</c>.</summary>
    public string VmMechanism { get; init; } = BackupMechanisms.Nbd;

    /// <summary>Whether backed-up ranges are discarded at the source (PVE's fleecing image shrinks); on by default.</summary>
    public bool DiscardSource { get; init; } = true;

    /// <summary>
    /// What <c>restore_get_mechanism</c> answers for containers: <c>tar</c> (default; a pax tar file is written for PVE
    /// to extract) or <c>directory</c> (the tree is restored into a directory PVE copies from).
    /// </summary>
    public string ContainerRestoreMechanism { get; init; } = BackupMechanisms.Tar;

    /// <summary>
    /// Directory for restore sockets, FUSE mounts and container tar files or trees; the system temporary directory when
    /// null. A container restore needs room for the whole container here.
    /// </summary>
    public string? RuntimeDirectory { get; init; }
}
