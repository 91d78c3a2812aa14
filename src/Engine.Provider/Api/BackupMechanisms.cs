namespace Engine.Provider.Api;

/// <summary>The mechanism and mode strings of PVE's API.</summary>
public static class BackupMechanisms
{
    /// <summary>VM backup: snapshot access and bitmap exported over NBD on <c>nbd-path</c>.</summary>
    public const string Nbd = "nbd";

    /// <summary>VM backup: snapshot access as a file descriptor plus <c>next-dirty-region</c>.</summary>
    public const string FileHandle = "file-handle";

    /// <summary>Container backup and restore: a directory tree.</summary>
    public const string Directory = "directory";

    /// <summary>VM restore: a path <c>qemu-img</c> reads.</summary>
    public const string QemuImg = "qemu-img";

    /// <summary>Container restore: a (possibly compressed) tar file.</summary>
    public const string Tar = "tar";

    /// <summary><c>backup_vm_query_incremental</c>: back up incrementally from the existing bitmap.</summary>
    public const string IncrementalUse = "use";

    /// <summary><c>backup_vm_query_incremental</c>: (re)create the bitmap; this backup is full.</summary>
    public const string IncrementalNew = "new";

    /// <summary><c>backup_vm_query_incremental</c>: no bitmap.</summary>
    public const string IncrementalNone = "none";
}
