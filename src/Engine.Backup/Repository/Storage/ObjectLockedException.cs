namespace Engine.Backup.Repository.Storage;

/// <summary>The store refused to delete or overwrite an object because it is retained (S3 Object Lock).</summary>
public sealed class ObjectLockedException : ObjectStoreException
{
    /// <summary>Creates the exception for <paramref name="key"/> in the store at <paramref name="location"/>.</summary>
    public ObjectLockedException(string location, string key, DateTimeOffset? retainUntil, Exception? innerException = null)
        : base(location, key, retainUntil is { } until ? $"retained until {until:u}" : "retained (object lock)", isTransient: false, innerException)
    {
        RetainUntil = retainUntil;
    }

    /// <summary>When the retention ends, when the store said.</summary>
    public DateTimeOffset? RetainUntil { get; }
}
