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
    /// without a using directive, so it must not need theirs. The one exception is Engine.Backup.Repository, the facade
    /// over its children: it sits above them, and the test's IL reading catches a child that uses it anyway.
    /// </summary>
    public static readonly IReadOnlyList<ProjectRule> Projects =
    [
        new("Engine.Blocks", [],
        [
            [""],
            ["Native"],
            ["Buffers", "Tar"],
            ["Work"],
            ["Devices", "Copying", "Fuse"],
        ]),
        new("Engine.Nbd", ["Engine.Blocks"],
        [
            // TLS credentials and sessions (issue 12) sit below the transports that run on them.
            ["Transport.Tls"],
            // TLS-PSK over OpenSSL implements the seam's server and client.
            ["Transport.Tls.Psk"],
            ["Protocol", "Transport"],
            ["Client", "Server.MetaContexts", "Server.Access"],
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
            // The shared vocabulary: RepositoryException and the file rules (RepositoryCalls, RepositoryFiles) that the
            // repository, its storage backends, the container code and restores all use. Containers' root holds the
            // entries a catalog records, which the catalog format encodes.
            ["", "Containers"],
            // Chunks and snapshot vocabulary (ids, manifests, stats) know nothing of each other; the object-store seam
            // depends on nothing of the repository but the shared vocabulary and the ciphers its decorator applies.
            ["Repository.Chunks", "Repository.Snapshots"],
            // Keys, ciphers and keyed chunk names: the encrypting store decorator uses them.
            ["Repository.Crypto"],
            ["Repository.Storage"],
            // The storage backends and decorators over the seam (peers: none uses another).
            ["Repository.Storage.Local", "Repository.Storage.Retry", "Repository.Storage.Limiter", "Repository.Storage.Cache"],
            // The one order of decorators (the stack factory) and the chunk layer over any object store.
            ["Repository.Storage.Stack"],
            ["Repository.ChunkObjects"],
            // The index, catalog and JSON formats encode both.
            ["Repository.Formats"],
            // Where a repository's snapshots and chunks live: the local directory or an object store (issue 13).
            ["Repository.Backends"],
            // The repository's root is the facade over its children (BackupRepository and what only it uses), so it
            // sits above them, unlike a parent namespace elsewhere: its children must never use it.
            ["Repository"],
            ["Containers.Chunking", "Containers.Walking", "Containers.Tar", "Containers.Restore", "Restore", "Transfer"],
            // The two backup engines are peers: what both need (counters) sits below them in Transfer, the bandwidth
            // limiter in Engine.Blocks.Work.
            ["Containers.Archive", "VmBackup"],
        ]),
        new("Engine.Provider.Repository", ["Engine.Backup", "Engine.Provider"],
        [
            [""],
        ]),
        // The S3 backend of the repository's object store: on Engine.Backup only, so the AWS SDK stays out of it.
        new("Engine.Backup.S3", ["Engine.Backup"],
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
        // qcow2 images natively: on Engine.Blocks only, beside Engine.Ova.
        new("Engine.Qcow2", ["Engine.Blocks"],
        [
            // The on-disk format: header, extensions, table entries (parsed and written).
            ["Format"],
            // The read-only device over an image and its backing chain.
            ["Reading"],
            // Persistent dirty bitmaps of an opened image, as extents.
            ["Bitmaps"],
            // The writer: new images, and a writable device with allocation, refcounts and ordered flushes.
            ["Writing"],
        ]),
        new("Engine.Cli", ["Engine.Provider.Repository", "Engine.Backup.S3", "Engine.Ova", "Engine.Qcow2"],
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
        // Found by this test in issue 14, not split this round: NbdServer (which accepts connections) lives in the
        // parent namespace that the connection, handshake and transmission code use as their vocabulary (NbdExport,
        // ServerLog). Moving NbdServer into a child namespace of its own removes it.
        new("Engine.Nbd", "Engine.Nbd.Server", "Engine.Nbd.Server.Connections", "issue 14 (left over)",
            "NbdServer creates NbdConnection"),
    ];
}
