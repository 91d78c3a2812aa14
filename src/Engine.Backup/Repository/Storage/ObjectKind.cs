namespace Engine.Backup.Repository.Storage;

/// <summary>
/// What a stored object is. Each kind has its own folder (key prefix) in every backend, so a listing of one kind
/// never pages through another's objects (a repository holds millions of chunks and a few hundred snapshots).
/// </summary>
public enum ObjectKind
{
    /// <summary>The repository's configuration (<c>config</c>): format, chunk size, encryption parameters.</summary>
    Config,

    /// <summary>Wrapped encryption keys (<c>keys/NAME</c>).</summary>
    Key,

    /// <summary>Leases and locks of writers and garbage collections (<c>locks/NAME</c>).</summary>
    Lock,

    /// <summary>Content-addressed chunks (<c>chunks/ab/abcd…</c>, fanned out by the name's first two characters).</summary>
    Chunk,

    /// <summary>A snapshot's manifest, device indexes and catalogs (<c>snapshots/TYPE/VMID/TIME/FILE</c>).</summary>
    Snapshot,
}
