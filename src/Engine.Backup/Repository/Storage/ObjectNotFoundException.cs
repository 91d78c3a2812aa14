namespace Engine.Backup.Repository.Storage;

/// <summary>The object to load does not exist.</summary>
public sealed class ObjectNotFoundException : ObjectStoreException
{
    /// <summary>Creates the exception for <paramref name="key"/> in the store at <paramref name="location"/>.</summary>
    public ObjectNotFoundException(string location, string key, Exception? innerException = null)
        : base(location, key, "no such object", isTransient: false, innerException)
    {
    }
}
