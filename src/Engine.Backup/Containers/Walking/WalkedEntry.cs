namespace Engine.Backup.Containers.Walking;

/// <summary>One file the walker found: its archive entry and where it is on the host.</summary>
/// <param name="Entry">The archive entry (path relative to the archive root).</param>
/// <param name="HostPath">The absolute path to read the file's content from.</param>
internal sealed record WalkedEntry(ContainerEntry Entry, string HostPath);
