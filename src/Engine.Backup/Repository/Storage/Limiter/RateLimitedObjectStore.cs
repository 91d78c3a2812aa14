using System.Runtime.CompilerServices;

namespace Engine.Backup.Repository.Storage.Limiter;

/// <summary>
/// Paces the bytes a store moves (upload and download rates, token buckets) and bounds the requests in flight (a
/// semaphore), like restic's <c>limiter/</c>: a backup to an offsite gateway must not fill the host's uplink, nor open
/// hundreds of connections. A save waits for its upload budget before it is sent; a load is charged the bytes it
/// actually read, before it returns.
/// </summary>
public sealed class RateLimitedObjectStore : IObjectStore
{
    private static readonly TimeSpan DefaultBurst = TimeSpan.FromMilliseconds(100);

    private readonly IObjectStore _inner;
    private readonly TokenBucket? _upload;
    private readonly TokenBucket? _download;
    private readonly SemaphoreSlim? _requests;

    /// <summary>Wraps <paramref name="inner"/>, which this store then owns (disposes).</summary>
    public RateLimitedObjectStore(IObjectStore inner, RateLimitOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(options);
        _inner = inner;
        time ??= TimeProvider.System;
        var burst = options.Burst ?? DefaultBurst;
        _upload = options.UploadBytesPerSecond > 0 ? new TokenBucket(options.UploadBytesPerSecond, burst, time) : null;
        _download = options.DownloadBytesPerSecond > 0 ? new TokenBucket(options.DownloadBytesPerSecond, burst, time) : null;
        _requests = options.MaxConcurrentRequests > 0 ? new SemaphoreSlim(options.MaxConcurrentRequests, options.MaxConcurrentRequests) : null;
    }

    /// <inheritdoc/>
    public string Location => _inner.Location;

    /// <inheritdoc/>
    public ObjectStoreCapabilities Capabilities => _inner.Capabilities;

    /// <inheritdoc/>
    public async ValueTask<SaveOutcome> SaveAsync(ObjectName name, ReadOnlyMemory<byte> content, SaveOptions options, CancellationToken cancellationToken)
    {
        if (_upload is not null)
        {
            await _upload.TakeAsync(content.Length, cancellationToken).ConfigureAwait(false);
        }

        await EnterAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await _inner.SaveAsync(name, content, options, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _requests?.Release();
        }
    }

    /// <inheritdoc/>
    public async ValueTask<int> LoadAsync(ObjectName name, long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        int read;
        await EnterAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            read = await _inner.LoadAsync(name, offset, destination, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _requests?.Release();
        }

        if (_download is not null)
        {
            await _download.TakeAsync(read, cancellationToken).ConfigureAwait(false);
        }

        return read;
    }

    /// <inheritdoc/>
    public async ValueTask<ObjectInfo?> StatAsync(ObjectName name, CancellationToken cancellationToken)
    {
        await EnterAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await _inner.StatAsync(name, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _requests?.Release();
        }
    }

    /// <inheritdoc/>
    public async ValueTask<bool> RemoveAsync(ObjectName name, CancellationToken cancellationToken)
    {
        await EnterAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await _inner.RemoveAsync(name, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _requests?.Release();
        }
    }

    /// <inheritdoc/>
    public async ValueTask ExtendRetentionAsync(ObjectName name, DateTimeOffset retainUntil, ObjectLockMode mode, CancellationToken cancellationToken)
    {
        await EnterAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _inner.ExtendRetentionAsync(name, retainUntil, mode, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _requests?.Release();
        }
    }

    /// <inheritdoc/>
    /// <remarks>Each step of the listing holds a request slot, not the whole listing, so a caller that loads objects while it lists cannot starve itself.</remarks>
    public async IAsyncEnumerable<ObjectInfo> ListAsync(ObjectKind kind, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var enumerator = _inner.ListAsync(kind, cancellationToken).GetAsyncEnumerator(cancellationToken);
        await using (enumerator.ConfigureAwait(false))
        {
            while (true)
            {
                bool more;
                await EnterAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    more = await enumerator.MoveNextAsync().ConfigureAwait(false);
                }
                finally
                {
                    _requests?.Release();
                }

                if (!more)
                {
                    yield break;
                }

                yield return enumerator.Current;
            }
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await _inner.DisposeAsync().ConfigureAwait(false);
        _requests?.Dispose();
    }

    private ValueTask EnterAsync(CancellationToken cancellationToken) =>
        _requests is null ? ValueTask.CompletedTask : new ValueTask(_requests.WaitAsync(cancellationToken));
}
