using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Engine.Backup.Repository.Storage;

namespace Engine.Backup.Tests.Crypto;

/// <summary>
/// A test double of our own <see cref="IObjectStore"/> over a dictionary, holding exactly the bytes it is given, so a
/// test can read and tamper with what a decorator really stored (the real backends are built in parallel this round).
/// </summary>
internal sealed class InMemoryObjectStore : IObjectStore
{
    private static readonly DateTimeOffset Time = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    public ConcurrentDictionary<string, byte[]> Objects { get; } = new(StringComparer.Ordinal);

    public string Location => "mem://test";

    public ObjectStoreCapabilities Capabilities => ObjectStoreCapabilities.AtomicIfAbsent;

    public ValueTask<SaveOutcome> SaveAsync(ObjectName name, ReadOnlyMemory<byte> content, SaveOptions options, CancellationToken cancellationToken)
    {
        if (options.IfAbsent)
        {
            return ValueTask.FromResult(Objects.TryAdd(name.Key, content.ToArray()) ? SaveOutcome.Written : SaveOutcome.AlreadyExists);
        }

        Objects[name.Key] = content.ToArray();
        return ValueTask.FromResult(SaveOutcome.Written);
    }

    public ValueTask<int> LoadAsync(ObjectName name, long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (!Objects.TryGetValue(name.Key, out var content))
        {
            throw new ObjectNotFoundException(Location, name.Key);
        }

        if (offset >= content.Length)
        {
            return ValueTask.FromResult(0);
        }

        var count = (int)Math.Min(destination.Length, content.Length - offset);
        content.AsSpan((int)offset, count).CopyTo(destination.Span);
        return ValueTask.FromResult(count);
    }

    public ValueTask<ObjectInfo?> StatAsync(ObjectName name, CancellationToken cancellationToken) =>
        ValueTask.FromResult(Objects.TryGetValue(name.Key, out var content) ? new ObjectInfo(name, content.Length, Time) : null);

    public async IAsyncEnumerable<ObjectInfo> ListAsync(ObjectKind kind, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.Yield();
        foreach (var (key, content) in Objects)
        {
            if (ObjectName.TryParseKey(kind, key, out var name))
            {
                yield return new ObjectInfo(name, content.Length, Time);
            }
        }
    }

    public ValueTask<bool> RemoveAsync(ObjectName name, CancellationToken cancellationToken) => ValueTask.FromResult(Objects.TryRemove(name.Key, out _));

    public ValueTask ExtendRetentionAsync(ObjectName name, DateTimeOffset retainUntil, ObjectLockMode mode, CancellationToken cancellationToken) =>
        throw new NotSupportedException("no object lock in memory");

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
