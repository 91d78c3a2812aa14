namespace Engine.Backup;

/// <summary>A repository operation failed; <see cref="Path"/> names the file or directory involved.</summary>
public class RepositoryException : Exception
{
    /// <summary>Creates the exception; the path is prefixed to the message when it is not already in it.</summary>
    public RepositoryException(string path, string message, Exception? innerException = null)
        : base(message.Contains(path, StringComparison.Ordinal) ? message : $"{path}: {message}", innerException)
    {
        Path = path;
    }

    /// <summary>The file or directory the failure is about.</summary>
    public string Path { get; }
}
