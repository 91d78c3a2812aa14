namespace Engine.Backup.Repository.Crypto;

/// <summary>A key file could not be created, read or unlocked; the message names the file and <see cref="Problem"/> says why.</summary>
public sealed class KeyFileException : RepositoryException
{
    /// <summary>Creates the exception for the key file (or paper key, or passphrase file) <paramref name="path"/>.</summary>
    public KeyFileException(string path, KeyFileProblem problem, string message, Exception? innerException = null)
        : base(path, message, innerException)
    {
        Problem = problem;
    }

    /// <summary>Why.</summary>
    public KeyFileProblem Problem { get; }

    /// <summary>The file is not a key file, or its content does not hold together.</summary>
    internal static KeyFileException Damaged(string path, string reason, Exception? innerException = null) =>
        new(path, KeyFileProblem.Damaged, $"{path}: damaged key file: {reason}", innerException);
}
