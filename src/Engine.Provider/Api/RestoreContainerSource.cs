namespace Engine.Provider.Api;

/// <summary><c>restore_container_init</c>'s answer: <c>tar-path</c> (mechanism <c>tar</c>) or <c>archive-directory</c> (mechanism <c>directory</c>).</summary>
/// <param name="ArchivePath">A tar file, for mechanism <c>tar</c>.</param>
/// <param name="Directory">A directory tree, for mechanism <c>directory</c>.</param>
public sealed record RestoreContainerSource(string? ArchivePath, string? Directory);
