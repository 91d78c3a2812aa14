namespace Engine.Backup.Restore;

/// <summary>A restore target that must not or cannot be written: an existing file, a directory, a missing folder.</summary>
public sealed class RestoreTargetException : IOException
{
    /// <summary>Creates the exception for <paramref name="path"/>.</summary>
    public RestoreTargetException(string path, string message)
        : base(message)
    {
        Path = path;
    }

    /// <summary>The target path.</summary>
    public string Path { get; }
}
