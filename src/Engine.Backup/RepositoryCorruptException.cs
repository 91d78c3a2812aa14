namespace Engine.Backup;

/// <summary>A repository file (configuration, manifest, index) is damaged or not what its name says.</summary>
public sealed class RepositoryCorruptException : RepositoryException
{
    /// <summary>Creates the exception for the damaged file <paramref name="path"/>.</summary>
    public RepositoryCorruptException(string path, string message, Exception? innerException = null)
        : base(path, message, innerException)
    {
    }
}
