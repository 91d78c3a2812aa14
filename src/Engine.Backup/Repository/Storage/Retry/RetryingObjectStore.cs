using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Engine.Backup.Repository.Storage.Retry;

/// <summary>
/// Retries what may pass: an <see cref="ObjectStoreException"/> with <see cref="ObjectStoreException.IsTransient"/>
/// (a timeout, a refused connection, a 5xx or 429 answer) and an attempt cut off by
/// <see cref="RetryOptions.AttemptTimeout"/>; nothing else. Exponential backoff with jitter, bounded in attempts and
/// in total time (<see cref="RetryOptions"/>); each retry is logged with the operation, the key and the attempt; when
/// it gives up, the last failure is thrown. The caller's cancellation is never retried.
/// </summary>
/// <remarks>
/// Every operation of <see cref="IObjectStore"/> can be repeated without changing what it means, which is why all are
/// retried; the one subtlety is an answer lost after the store acted. A save without
/// <see cref="SaveOptions.IfAbsent"/> overwrites with the same bytes. A save with it, whose first attempt wrote the
/// object but whose answer was lost, meets its own object on the retry: for a chunk that is
/// <see cref="SaveOutcome.AlreadyExists"/> and is true either way (a content-addressed name has one content, and the
/// chunk is stored); for any other kind (a lock, a manifest) the store reads the object back and answers
/// <see cref="SaveOutcome.Written"/> when it holds exactly our bytes, so a writer never mistakes its own lock for
/// another's (lock contents must therefore be unique to their writer). A remove whose answer was lost answers false
/// on the retry: the object is gone either way. A listing is retried only until its first object is handed out (a
/// restart would repeat objects) and has no per-attempt timeout (a listing of millions of chunks takes long).
/// </remarks>
public sealed class RetryingObjectStore : IObjectStore
{
    private readonly IObjectStore _inner;
    private readonly RetryOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;

    /// <summary>Wraps <paramref name="inner"/>, which this store then owns (disposes).</summary>
    public RetryingObjectStore(IObjectStore inner, RetryOptions? options = null, ILogger? logger = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(inner);
        _inner = inner;
        _options = options ?? RetryOptions.Default;
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.MaxAttempts, 1, nameof(options));
        _logger = logger ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
    }

    /// <inheritdoc/>
    public string Location => _inner.Location;

    /// <inheritdoc/>
    public ObjectStoreCapabilities Capabilities => _inner.Capabilities;

    /// <inheritdoc/>
    public async ValueTask<SaveOutcome> SaveAsync(ObjectName name, ReadOnlyMemory<byte> content, SaveOptions options, CancellationToken cancellationToken)
    {
        var (outcome, attempts) = await RunAsync(
            "save",
            name,
            (Store: _inner, Name: name, Content: content, Options: options),
            static (s, token) => s.Store.SaveAsync(s.Name, s.Content, s.Options, token),
            cancellationToken).ConfigureAwait(false);

        // Attempts before the last failed; any of them may have written before its answer was lost.
        return outcome == SaveOutcome.AlreadyExists && attempts > 1 && name.Kind != ObjectKind.Chunk &&
            await HoldsAsync(name, content, cancellationToken).ConfigureAwait(false)
            ? SaveOutcome.Written
            : outcome;
    }

    /// <inheritdoc/>
    public async ValueTask<int> LoadAsync(ObjectName name, long offset, Memory<byte> destination, CancellationToken cancellationToken) =>
        (await RunAsync(
            "load",
            name,
            (Store: _inner, Name: name, Offset: offset, Destination: destination),
            static (s, token) => s.Store.LoadAsync(s.Name, s.Offset, s.Destination, token),
            cancellationToken).ConfigureAwait(false)).Result;

    /// <inheritdoc/>
    public async ValueTask<ObjectInfo?> StatAsync(ObjectName name, CancellationToken cancellationToken) =>
        (await RunAsync(
            "stat",
            name,
            (Store: _inner, Name: name),
            static (s, token) => s.Store.StatAsync(s.Name, token),
            cancellationToken).ConfigureAwait(false)).Result;

    /// <inheritdoc/>
    public async ValueTask<bool> RemoveAsync(ObjectName name, CancellationToken cancellationToken) =>
        (await RunAsync(
            "remove",
            name,
            (Store: _inner, Name: name),
            static (s, token) => s.Store.RemoveAsync(s.Name, token),
            cancellationToken).ConfigureAwait(false)).Result;

    /// <inheritdoc/>
    public async ValueTask ExtendRetentionAsync(ObjectName name, DateTimeOffset retainUntil, ObjectLockMode mode, CancellationToken cancellationToken) =>
        await RunAsync(
            "extend retention of",
            name,
            (Store: _inner, Name: name, Until: retainUntil, Mode: mode),
            static async (s, token) =>
            {
                await s.Store.ExtendRetentionAsync(s.Name, s.Until, s.Mode, token).ConfigureAwait(false);
                return true;
            },
            cancellationToken).ConfigureAwait(false);

    /// <inheritdoc/>
    public async IAsyncEnumerable<ObjectInfo> ListAsync(ObjectKind kind, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var folder = ObjectName.FolderOf(kind);
        var start = _time.GetTimestamp();
        for (var attempt = 1; ; attempt++)
        {
            var yielded = false;
            var enumerator = _inner.ListAsync(kind, cancellationToken).GetAsyncEnumerator(cancellationToken);
            await using (enumerator.ConfigureAwait(false))
            {
                while (true)
                {
                    var (more, failure) = await TryMoveNextAsync(enumerator).ConfigureAwait(false);
                    if (failure is not null)
                    {
                        if (yielded)
                        {
                            failure.Throw();
                        }

                        await BackOffOrThrowAsync("list", folder, attempt, start, failure, cancellationToken).ConfigureAwait(false);
                        break;
                    }

                    if (!more)
                    {
                        yield break;
                    }

                    yielded = true;
                    yield return enumerator.Current;
                }
            }
        }
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => _inner.DisposeAsync();

    private static async ValueTask<(bool More, ExceptionDispatchInfo? Failure)> TryMoveNextAsync(IAsyncEnumerator<ObjectInfo> enumerator)
    {
        try
        {
            return (await enumerator.MoveNextAsync().ConfigureAwait(false), null);
        }
        catch (ObjectStoreException e) when (e.IsTransient)
        {
            return (false, ExceptionDispatchInfo.Capture(e));
        }
    }

    /// <summary>
    /// Runs one operation until it succeeds, fails for good, or the attempts or the time run out; returns its result
    /// and the attempts it took.
    /// </summary>
    private async ValueTask<(T Result, int Attempts)> RunAsync<TState, T>(
        string operation, ObjectName name, TState state, Func<TState, CancellationToken, ValueTask<T>> call, CancellationToken cancellationToken)
    {
        var start = _time.GetTimestamp();
        for (var attempt = 1; ; attempt++)
        {
            ExceptionDispatchInfo failure;
            using (var timeout = _options.AttemptTimeout is null ? null : CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                timeout?.CancelAfter(_options.AttemptTimeout!.Value);
                try
                {
                    var result = await call(state, timeout?.Token ?? cancellationToken).ConfigureAwait(false);
                    if (attempt > 1)
                    {
                        StorageLog.Recovered(_logger, operation, Location, name.Key, attempt - 1);
                    }

                    return (result, attempt);
                }
                catch (ObjectStoreException e) when (e.IsTransient)
                {
                    failure = ExceptionDispatchInfo.Capture(e);
                }
                catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested && timeout is { IsCancellationRequested: true })
                {
                    failure = ExceptionDispatchInfo.Capture(new ObjectStoreException(
                        Location, name.Key, $"{operation} timed out after {_options.AttemptTimeout!.Value.TotalSeconds:0.###} s", isTransient: true, e));
                }
            }

            await BackOffOrThrowAsync(operation, name.Key, attempt, start, failure, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Waits before the next attempt, or throws the failure when no attempt or time is left.</summary>
    private async ValueTask BackOffOrThrowAsync(string operation, string key, int attempt, long start, ExceptionDispatchInfo failure, CancellationToken cancellationToken)
    {
        var delay = Delay(attempt);
        var elapsed = _time.GetElapsedTime(start);
        if (attempt >= _options.MaxAttempts || elapsed + delay > _options.ElapsedCeiling)
        {
            StorageLog.GaveUp(_logger, operation, Location, key, attempt, (long)elapsed.TotalMilliseconds, failure.SourceException.Message);
            failure.Throw();
        }

        StorageLog.Retrying(_logger, operation, Location, key, attempt, _options.MaxAttempts, (long)delay.TotalMilliseconds, failure.SourceException.Message);
        await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The wait after failed attempt <paramref name="attempt"/>: the ceiling doubles each time up to
    /// <see cref="RetryOptions.MaxDelay"/>, and the wait is a random point in its upper half, so many writers that
    /// failed together do not retry together, yet none retries at once.
    /// </summary>
    private TimeSpan Delay(int attempt)
    {
        var ceiling = Math.Min(_options.DelayCeiling.Ticks, _options.FirstDelay.Ticks * Math.Pow(2, Math.Min(attempt - 1, 30)));
        return TimeSpan.FromTicks((long)((ceiling / 2) + (Random.Shared.NextDouble() * ceiling / 2)));
    }

    /// <summary>Whether the stored object is exactly <paramref name="content"/> (our own earlier attempt, or identical).</summary>
    private async ValueTask<bool> HoldsAsync(ObjectName name, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        if (await StatAsync(name, cancellationToken).ConfigureAwait(false) is not { } info || info.Length != content.Length)
        {
            return false;
        }

        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(1, content.Length));
        try
        {
            var read = await LoadAsync(name, 0, buffer.AsMemory(0, content.Length), cancellationToken).ConfigureAwait(false);
            return read == content.Length && content.Span.SequenceEqual(buffer.AsSpan(0, read));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
