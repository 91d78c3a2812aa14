namespace Engine.Backup.Repository;

/// <summary>The repository directory does not exist (and was not to be created).</summary>
public sealed class RepositoryNotFoundException : RepositoryException
{
    /// <summary>Creates the exception for <paramref name="path"/>.</summary>
    public RepositoryNotFoundException(string path)
        : base(path, $"{path}: no such repository")
    {
    }
}
