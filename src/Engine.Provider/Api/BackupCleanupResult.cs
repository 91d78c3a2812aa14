namespace Engine.Provider.Api;

/// <summary><c>backup_cleanup</c>'s answer: <c>{stats => {'archive-size' => bytes}}</c>.</summary>
/// <param name="ArchiveSize">Logical size of the archive in bytes (the guest's disks), or null when nothing was kept.</param>
public sealed record BackupCleanupResult(long? ArchiveSize);
