namespace Engine.Backup.Containers.Restore;

/// <summary>What a directory restore created.</summary>
/// <param name="Entries">Entries created (the root counted).</param>
/// <param name="Files">Regular files written.</param>
/// <param name="BytesWritten">File data written (holes not counted).</param>
/// <param name="XattrsSkipped">Extended attributes the target filesystem does not support (EOPNOTSUPP), left out.</param>
public sealed record ContainerRestoreSummary(long Entries, long Files, long BytesWritten, long XattrsSkipped);
