namespace Engine.Backup.Containers.Restore;

/// <summary>
/// An archive entry would be created outside the restore target: an absolute path, a <c>..</c> or empty component,
/// a parent that is a symlink or not a directory, or a hard link to something that is not an earlier file.
/// </summary>
public sealed class UnsafeArchivePathException : IOException
{
    /// <summary>Creates the exception.</summary>
    public UnsafeArchivePathException(string path, string reason)
        : base($"refusing archive entry '{path}': {reason}")
    {
        EntryPath = path;
    }

    /// <summary>The entry's path as the archive gives it.</summary>
    public string EntryPath { get; }
}
