using Engine.Sources;

namespace Engine.Backup.Containers;

/// <summary>
/// One file of a container's filesystem as the archive keeps it: everything <c>lstat</c>, <c>readlink</c> and the
/// xattr calls report that a restore needs, with numeric owners as the container sees them.
/// </summary>
public sealed class ContainerEntry
{
    /// <summary>
    /// Path relative to the archive root, <c>/</c>-separated, without a leading <c>./</c>; the root itself is <c>.</c>.
    /// Names are kept as the filesystem's bytes decoded as UTF-8.
    /// </summary>
    public required string Path { get; init; }

    /// <summary>The file type.</summary>
    public required ContainerEntryKind Kind { get; init; }

    /// <summary>Permission bits including set-uid, set-gid and sticky (<c>st_mode &amp; 07777</c>).</summary>
    public int Mode { get; init; }

    /// <summary>Numeric owner.</summary>
    public long Uid { get; init; }

    /// <summary>Numeric group.</summary>
    public long Gid { get; init; }

    /// <summary>Modification time in nanoseconds since the Unix epoch.</summary>
    public long ModificationTimeNs { get; init; }

    /// <summary>Logical size of a regular file in bytes (holes included); 0 for other kinds.</summary>
    public long Size { get; init; }

    /// <summary>Symlink target, or the archive path of the file a hard link names; null otherwise.</summary>
    public string? LinkTarget { get; init; }

    /// <summary>Major number of a device node.</summary>
    public int DeviceMajor { get; init; }

    /// <summary>Minor number of a device node.</summary>
    public int DeviceMinor { get; init; }

    /// <summary>Extended attributes, ACLs included, in the order the filesystem listed them.</summary>
    public IReadOnlyList<ContainerXattr> Xattrs { get; init; } = [];

    /// <summary>
    /// The data ranges of a sparse regular file, ascending and disjoint; everything else reads as zeros. Null for a
    /// dense file (all of <see cref="Size"/> is data).
    /// </summary>
    public IReadOnlyList<SourceRange>? DataExtents { get; init; }

    /// <summary>Bytes of a regular file in the archive's data stream: its data extents (holes left out), or its size when dense.</summary>
    internal long DataLength
    {
        get
        {
            if (Kind != ContainerEntryKind.RegularFile)
            {
                return 0;
            }

            if (DataExtents is not { } extents)
            {
                return Size;
            }

            long length = 0;
            foreach (var extent in extents)
            {
                length += extent.Length;
            }

            return length;
        }
    }

    /// <summary>Inode, device and ctime when the walk saw the file; null from a catalog older than version 2.</summary>
    internal FileIdentity? Identity { get; init; }
}
