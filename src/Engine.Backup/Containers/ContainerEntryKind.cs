namespace Engine.Backup.Containers;

/// <summary>What a container archive entry is; the file types a Linux root filesystem holds.</summary>
public enum ContainerEntryKind
{
    /// <summary>A directory; its children follow it in archive order.</summary>
    Directory,

    /// <summary>A regular file with content (possibly sparse).</summary>
    RegularFile,

    /// <summary>A symbolic link; <see cref="ContainerEntry.LinkTarget"/> is its target, stored verbatim.</summary>
    Symlink,

    /// <summary>Another name of an earlier regular file; <see cref="ContainerEntry.LinkTarget"/> is that file's path.</summary>
    HardLink,

    /// <summary>A character device node.</summary>
    CharacterDevice,

    /// <summary>A block device node.</summary>
    BlockDevice,

    /// <summary>A named pipe.</summary>
    Fifo,

    /// <summary>A Unix socket; archived for completeness, tar skips them.</summary>
    Socket,
}
