namespace Engine.Provider.Api;

/// <summary>The backup an archive name stands for: what <see cref="IBackupProvider.BackupInit"/> was given when it chose the name.</summary>
/// <param name="Vmid">The guest id.</param>
/// <param name="GuestType">The guest type.</param>
/// <param name="StartTime">The backup's start time, as precise as the name keeps it.</param>
public readonly record struct ArchiveIdentity(string Vmid, GuestType GuestType, DateTimeOffset StartTime);
