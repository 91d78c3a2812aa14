namespace Engine.Architecture.Tests;

/// <summary>
/// The layers of docs/architecture.md as data: which project may reference which, and each project's namespaces in
/// order. The tests hold the code to this table; a change to the architecture is a change here, in one reviewed place.
/// </summary>
internal static class LayerRules
{
    /// <summary>The only folder whose sources may declare P/Invoke (one LibC partial class, split by area).</summary>
    public const string NativeFolder = "src/Engine.Blocks/Native";

    /// <summary>
    /// Every project under src/, bottom first. <see cref="ProjectRule.MayReference"/> lists the layers right below
    /// it; a project may reference those and whatever they may reference, never anything else.
    /// <see cref="ProjectRule.NamespaceLayers"/> lists namespaces bottom first, relative to the project ("" is the root
    /// namespace, the project's shared vocabulary). A parent namespace sits below its children: they see its types
    /// without a using directive, so it must not need theirs.
    /// </summary>
    public static readonly IReadOnlyList<ProjectRule> Projects =
    [
        new("Engine.Blocks", [],
        [
            [""],
            ["Native"],
            ["Buffers", "Tar"],
            ["Work"],
            ["Devices", "Copying"],
        ]),
        new("Engine.Nbd", ["Engine.Blocks"],
        [
            ["Protocol", "Transport"],
            ["Transport.Tls"],
            ["Client", "Server.MetaContexts"],
            ["Server"],
            ["Server.Handshake"],
            ["Server.Transmission"],
            ["Server.Connections"],
        ]),
        new("Engine.Sources", ["Engine.Nbd"],
        [
            [""],
        ]),
        new("Engine.Provider", ["Engine.Sources"],
        [
            ["Api"],
            ["Protocol"],
        ]),
        new("Engine.Backup", ["Engine.Sources"],
        [
            ["Repository", "Containers"],
            ["Repository.Json", "Containers.Chunking", "Containers.Walking", "Containers.Tar", "Containers.Restore", "Restore"],
            // The two backup engines are peers: what both need (counters, bandwidth limits) belongs below them.
            ["Containers.Archive", "VmBackup"],
        ]),
        new("Engine.Provider.Repository", ["Engine.Backup", "Engine.Provider"],
        [
            [""],
        ]),
        new("Engine.Ova", ["Engine.Blocks"],
        [
            [""],
            ["Tar", "Vmdk", "Volumes"],
            ["Manifest", "Ovf"],
            ["Import"],
            ["Serving", "Json"],
        ]),
        new("Engine.Cli", ["Engine.Provider.Repository", "Engine.Ova"],
        [
            ["", "Json"],
            ["Commands"],
            ["Startup"],
        ]),
    ];

    /// <summary>
    /// Dependencies that break the rules today, each with the issue whose work removes it. The list may only shrink:
    /// a violation not listed here fails, and so does an entry that no longer occurs.
    /// </summary>
    public static readonly IReadOnlyList<KnownException> KnownExceptions =
    [
        // gc, verify and the staged import read container catalogs to find the chunks an archive needs; issue 13's
        // Formats/ folder puts the catalog reader beside the index and manifest readers, below both.
        new("Engine.Backup", "Engine.Backup.Repository", "Engine.Backup.Containers.Archive", "issue 13",
            "BackupRepository.Gc/.Verify/.Import read CatalogReader"),
        // The container engine counts and throttles with the VM engine's types; issue 13 moves them below both.
        new("Engine.Backup", "Engine.Backup.Containers.Archive", "Engine.Backup.VmBackup", "issue 13",
            "ChunkUploader and ContainerBackupEngine use BackupCounters and BandwidthLimiter"),
        // The repository serialises through the source-generated context of its child namespace, which in turn
        // converts the repository's types; issue 13's Formats/ folder holds both.
        new("Engine.Backup", "Engine.Backup.Repository", "Engine.Backup.Repository.Json", "issue 13",
            "BackupRepository uses RepositoryJsonContext"),
        // Found by this test in issue 14, not split this round: NbdServer (which accepts connections) lives in the
        // parent namespace that the connection, handshake and transmission code use as their vocabulary (NbdExport,
        // ServerLog). Moving NbdServer into a child namespace of its own removes it.
        new("Engine.Nbd", "Engine.Nbd.Server", "Engine.Nbd.Server.Connections", "issue 14 (left over)",
            "NbdServer creates NbdConnection"),
    ];
}
