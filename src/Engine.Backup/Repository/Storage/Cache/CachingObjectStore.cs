using System.Runtime.CompilerServices;

namespace Engine.Backup.Repository.Storage.Cache;

/// <summary>
/// Answers what a <see cref="KnownObjectCache"/> knows without asking the store, like restic's <c>cache/</c> but for
/// existence: an absent-only save of a chunk the cache knows returns <see cref="SaveOutcome.AlreadyExists"/> without
/// a request, and a stat of a known chunk is answered locally (its length; the time is when it was first seen). The
/// cache learns from saves, stats and chunk listings, and forgets chunks removed through this store or found missing
/// by a load or stat. Other kinds pass straight through: they are few, and snapshots and locks change under other
/// writers. <see cref="Invalidate"/> is for garbage collection.
/// </summary>
public sealed class CachingObjectStore : IObjectStore
{
    private readonly IObjectStore _inner;

    /// <summary>Wraps <paramref name="inner"/>; this store then owns (disposes) both it and <paramref name="cache"/>.</summary>
    public CachingObjectStore(IObjectStore inner, KnownObjectCache cache)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(cache);
        _inner = inner;
        Cache = cache;
    }

    /// <summary>The cache.</summary>
    public KnownObjectCache Cache { get; }

    /// <inheritdoc/>
    public string Location => _inner.Location;

    /// <inheritdoc/>
    public ObjectStoreCapabilities Capabilities => _inner.Capabilities;

    /// <summary>Drops the cache: call after removing chunks other than through this store (garbage collection).</summary>
    public void Invalidate() => Cache.Invalidate();

    /// <inheritdoc/>
    public async ValueTask<SaveOutcome> SaveAsync(ObjectName name, ReadOnlyMemory<byte> content, SaveOptions options, CancellationToken cancellationToken)
    {
        if (options.IfAbsent && options.RetainUntil is null && Cache.TryGet(name, out _))
        {
            cancellationToken.ThrowIfCancellationRequested();
            return SaveOutcome.AlreadyExists;
        }

        var outcome = await _inner.SaveAsync(name, content, options, cancellationToken).ConfigureAwait(false);
        Cache.Add(new ObjectInfo(name, content.Length, DateTimeOffset.UtcNow));
        return outcome;
    }

    /// <inheritdoc/>
    public async ValueTask<int> LoadAsync(ObjectName name, long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        try
        {
            return await _inner.LoadAsync(name, offset, destination, cancellationToken).ConfigureAwait(false);
        }
        catch (ObjectNotFoundException)
        {
            Cache.Forget(name);
            throw;
        }
    }

    /// <inheritdoc/>
    public async ValueTask<ObjectInfo?> StatAsync(ObjectName name, CancellationToken cancellationToken)
    {
        if (Cache.TryGet(name, out var known))
        {
            cancellationToken.ThrowIfCancellationRequested();
            return known;
        }

        var info = await _inner.StatAsync(name, cancellationToken).ConfigureAwait(false);
        if (info is null)
        {
            Cache.Forget(name);
        }
        else
        {
            Cache.Add(info);
        }

        return info;
    }

    /// <inheritdoc/>
    public async IAsyncEnumerable<ObjectInfo> ListAsync(ObjectKind kind, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var info in _inner.ListAsync(kind, cancellationToken).ConfigureAwait(false))
        {
            Cache.Add(info);
            yield return info;
        }
    }

    /// <inheritdoc/>
    public ValueTask<bool> RemoveAsync(ObjectName name, CancellationToken cancellationToken)
    {
        // Forget first: a removal that fails half-way must not leave the cache vouching for the object.
        Cache.Forget(name);
        return _inner.RemoveAsync(name, cancellationToken);
    }

    /// <inheritdoc/>
    public ValueTask ExtendRetentionAsync(ObjectName name, DateTimeOffset retainUntil, ObjectLockMode mode, CancellationToken cancellationToken) =>
        _inner.ExtendRetentionAsync(name, retainUntil, mode, cancellationToken);

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await _inner.DisposeAsync().ConfigureAwait(false);
        Cache.Dispose();
    }
}
