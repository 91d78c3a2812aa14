namespace Engine.Backup.Repository.Storage;

/// <summary>
/// An object store operation failed. The message names the store's location and the object's key (for S3 the bucket
/// and key); <see cref="IsTransient"/> tells the retry decorator whether trying again can help.
/// </summary>
public class ObjectStoreException : RepositoryException
{
    /// <summary>Creates the exception for <paramref name="key"/> in the store at <paramref name="location"/>.</summary>
    public ObjectStoreException(string location, string key, string message, bool isTransient = false, Exception? innerException = null)
        : base(Join(location, key), message, innerException)
    {
        Location = location;
        Key = key;
        IsTransient = isTransient;
    }

    /// <summary>The store (<see cref="IObjectStore.Location"/>).</summary>
    public string Location { get; }

    /// <summary>The object's key within the store (empty for a failure of the store as a whole).</summary>
    public string Key { get; }

    /// <summary>Whether the failure may pass (a timeout, a refused connection, a 5xx or 429 answer).</summary>
    public bool IsTransient { get; }

    private static string Join(string location, string key) =>
        key.Length == 0 ? location : string.Concat(location.TrimEnd('/'), "/", key);
}
