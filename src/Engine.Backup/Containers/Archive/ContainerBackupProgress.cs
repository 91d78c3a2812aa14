namespace Engine.Backup.Containers.Archive;

/// <summary>Where a container backup stands; reported every few files and at the end.</summary>
/// <param name="Path">The entry being archived.</param>
/// <param name="Entries">Entries archived so far.</param>
/// <param name="BytesRead">File data read.</param>
/// <param name="BytesReused">Data that was already in the repository (or earlier in this backup).</param>
/// <param name="BytesStored">Bytes written to the store after compression.</param>
/// <param name="Elapsed">Time since the backup started.</param>
public readonly record struct ContainerBackupProgress(string Path, long Entries, long BytesRead, long BytesReused, long BytesStored, TimeSpan Elapsed);
