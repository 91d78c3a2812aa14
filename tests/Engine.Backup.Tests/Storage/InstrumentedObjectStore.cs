using System.Runtime.CompilerServices;
using Engine.Backup.Repository.Storage;

namespace Engine.Backup.Tests.Storage;

/// <summary>
/// A test double of our own interface around a real store: counts the calls that reach it, the most in flight at
/// once, and can fail a call before or after the real store acts (a request refused, an answer lost) or hold it.
/// </summary>
internal sealed class InstrumentedObjectStore(IObjectStore inner) : IObjectStore
{
    private int _calls;
    private int _inFlight;
    private int _maxInFlight;

    public int Saves;
    public int Loads;
    public int Stats;
    public int Lists;
    public int Removes;
    public int Extends;

    /// <summary>Given the call's number (1, 2, …), an exception to throw before the inner store is called, or null.</summary>
    public Func<int, Exception?> FailBefore { get; set; } = _ => null;

    /// <summary>Given the call's number, an exception to throw after the inner store acted (its answer lost), or null.</summary>
    public Func<int, Exception?> FailAfter { get; set; } = _ => null;

    /// <summary>How long each call takes on top of the inner store (honouring the call's token).</summary>
    public TimeSpan Hold { get; set; }

    public int Calls => _calls;

    public int MaxInFlight => _maxInFlight;

    public string Location => inner.Location;

    public ObjectStoreCapabilities Capabilities => inner.Capabilities;

    public ValueTask<SaveOutcome> SaveAsync(ObjectName name, ReadOnlyMemory<byte> content, SaveOptions options, CancellationToken cancellationToken) =>
        RunAsync(ref Saves, () => inner.SaveAsync(name, content, options, cancellationToken), cancellationToken);

    public ValueTask<int> LoadAsync(ObjectName name, long offset, Memory<byte> destination, CancellationToken cancellationToken) =>
        RunAsync(ref Loads, () => inner.LoadAsync(name, offset, destination, cancellationToken), cancellationToken);

    public ValueTask<ObjectInfo?> StatAsync(ObjectName name, CancellationToken cancellationToken) =>
        RunAsync(ref Stats, () => inner.StatAsync(name, cancellationToken), cancellationToken);

    public ValueTask<bool> RemoveAsync(ObjectName name, CancellationToken cancellationToken) =>
        RunAsync(ref Removes, () => inner.RemoveAsync(name, cancellationToken), cancellationToken);

    public ValueTask ExtendRetentionAsync(ObjectName name, DateTimeOffset retainUntil, ObjectLockMode mode, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref Extends);
        return inner.ExtendRetentionAsync(name, retainUntil, mode, cancellationToken);
    }

    public async IAsyncEnumerable<ObjectInfo> ListAsync(ObjectKind kind, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var items = await RunAsync(ref Lists, async () =>
        {
            var list = new List<ObjectInfo>();
            await foreach (var info in inner.ListAsync(kind, cancellationToken))
            {
                list.Add(info);
            }

            return list;
        }, cancellationToken);
        foreach (var info in items)
        {
            yield return info;
        }
    }

    public ValueTask DisposeAsync() => inner.DisposeAsync();

    private ValueTask<T> RunAsync<T>(ref int counter, Func<ValueTask<T>> call, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref counter);
        return RunAsync(Interlocked.Increment(ref _calls), call, cancellationToken);
    }

    private async ValueTask<T> RunAsync<T>(int number, Func<ValueTask<T>> call, CancellationToken cancellationToken)
    {
        var now = Interlocked.Increment(ref _inFlight);
        try
        {
            int seen;
            while (now > (seen = _maxInFlight) && Interlocked.CompareExchange(ref _maxInFlight, now, seen) != seen)
            {
            }

            if (Hold > TimeSpan.Zero)
            {
                await Task.Delay(Hold, cancellationToken);
            }

            if (FailBefore(number) is { } before)
            {
                throw before;
            }

            var result = await call();
            return FailAfter(number) is { } after ? throw after : result;
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }
}
