namespace Engine.Backup.Containers.Walking;

/// <summary>One file the walker found: its archive entry and where it is on the host.</summary>
/// <param name="Entry">The archive entry (path relative to the archive root).</param>
/// <param name="HostPath">The absolute path to read the file's content from.</param>
/// <param name="ReferenceIndex">
/// For a regular file with data that is unchanged since the reference backup: its entry there, whose chunks hold the
/// content; -1 when the file must be read.
/// </param>
internal sealed record WalkedEntry(ContainerEntry Entry, string HostPath, int ReferenceIndex = -1);
