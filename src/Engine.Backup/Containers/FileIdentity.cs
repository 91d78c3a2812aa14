namespace Engine.Backup.Containers;

/// <summary>
/// What tells that a file is the very one an earlier backup saw, unchanged: the inode on its filesystem and the last
/// status change. The kernel moves ctime on every write, truncate, chmod, chown, link count change and xattr or ACL
/// change, and no system call sets it back, so a file whose mtime was restored (<c>touch -d</c>) is still caught.
/// Recorded in the catalog from version 2 on; an entry of an older catalog has none, and is never reused.
/// </summary>
/// <param name="ChangeTimeNs">ctime in nanoseconds since the Unix epoch.</param>
/// <param name="Inode">The inode number.</param>
/// <param name="Device">
/// The filesystem's device number (major in the high 32 bits); 0 for the walk root's own filesystem, so that a root
/// mounted afresh for each backup (PVE's snapshot mode: a new device number each time) still matches its reference.
/// Files on other filesystems (mount points) match only while their device number stays.
/// </param>
internal readonly record struct FileIdentity(long ChangeTimeNs, ulong Inode, ulong Device);
