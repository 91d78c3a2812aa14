namespace Engine.Backup.Repository.Storage;

/// <summary>
/// Where a repository keeps its objects (chunks, snapshot manifests, indexes and catalogs, configuration, keys,
/// locks): a local directory or an S3 bucket. Five operations over named objects, as restic's backends and PBS's
/// datastores have; retry, rate limiting and caching are decorators around a backend, not part of it.
/// Implementations are thread-safe. Every failure is an <see cref="ObjectStoreException"/> naming
/// <see cref="Location"/> and the object's key.
/// </summary>
public interface IObjectStore : IAsyncDisposable
{
    /// <summary>Where the objects are, for messages: a directory path or <c>s3://BUCKET/PREFIX</c>.</summary>
    string Location { get; }

    /// <summary>What the backend can do beyond the basics.</summary>
    ObjectStoreCapabilities Capabilities { get; }

    /// <summary>
    /// Writes an object whole. When the call returns <see cref="SaveOutcome.Written"/> the object is durable (fsync'd,
    /// or acknowledged by the store) and readers see either all of it or, before, nothing.
    /// </summary>
    ValueTask<SaveOutcome> SaveAsync(ObjectName name, ReadOnlyMemory<byte> content, SaveOptions options, CancellationToken cancellationToken);

    /// <summary>
    /// Reads from <paramref name="offset"/> into <paramref name="destination"/> and returns the bytes read: fewer than
    /// the destination holds only at the object's end (0 at or past it).
    /// </summary>
    /// <exception cref="ObjectNotFoundException">No such object.</exception>
    ValueTask<int> LoadAsync(ObjectName name, long offset, Memory<byte> destination, CancellationToken cancellationToken);

    /// <summary>The object's length and time, or null when it does not exist.</summary>
    ValueTask<ObjectInfo?> StatAsync(ObjectName name, CancellationToken cancellationToken);

    /// <summary>Every object of one kind, in no particular order; keys that are not names of that kind are left out.</summary>
    IAsyncEnumerable<ObjectInfo> ListAsync(ObjectKind kind, CancellationToken cancellationToken);

    /// <summary>Deletes an object; false when it did not exist.</summary>
    /// <exception cref="ObjectLockedException">The object is retained (Object Lock) and the store refused.</exception>
    ValueTask<bool> RemoveAsync(ObjectName name, CancellationToken cancellationToken);

    /// <summary>
    /// Moves an existing object's retention out to <paramref name="retainUntil"/> (never shortens it), so a chunk a
    /// newer snapshot reuses stays locked as long as that snapshot.
    /// </summary>
    /// <exception cref="NotSupportedException">The backend lacks <see cref="ObjectStoreCapabilities.ObjectLock"/>.</exception>
    ValueTask ExtendRetentionAsync(ObjectName name, DateTimeOffset retainUntil, ObjectLockMode mode, CancellationToken cancellationToken);
}
