using System.Globalization;
using System.Text;
using Engine.Backup.Repository.Snapshots;
using Engine.Backup.Repository.Storage;

namespace Engine.Backup.Repository.Backends;

/// <summary>
/// A lease in an object store (<c>locks/writer-UUID</c> for a writer, <c>locks/gc-…</c> for a garbage collection,
/// docs/storage-protocol.md): written before its holder starts, rewritten every <see cref="LeaseTimes.RenewEvery"/> so
/// it never looks stale while the holder lives, and removed when the holder ends. Garbage collection deletes no chunk
/// while a live writer lease exists; writers start no backup while a live sweep lease exists. A holder whose rewrites
/// failed for longer than <see cref="LeaseTimes.Expiry"/> has <see cref="Lapsed"/>: others counted it as dead.
/// </summary>
internal sealed class ObjectWriterLease : IWriterLease
{
    /// <summary>The prefix of every writer lease's name under <c>locks/</c>.</summary>
    public const string NamePrefix = "writer-";

    private readonly IObjectStore _store;
    private readonly ObjectName _name;
    private readonly byte[] _content;
    private readonly LeaseTimes _times;
    private readonly Timer _renewal;
    private long _writtenTicks;
    private int _lapsed;
    private int _ended;

    private ObjectWriterLease(IObjectStore store, ObjectName name, byte[] content, LeaseTimes times, DateTimeOffset start)
    {
        _store = store;
        _name = name;
        _content = content;
        _times = times;
        Start = start;
        _writtenTicks = start.UtcTicks;
        _renewal = new Timer(_ => _ = RenewAsync(), null, times.RenewEvery, times.RenewEvery);
    }

    /// <inheritdoc/>
    public DateTimeOffset Start { get; }

    /// <summary>The lease's object under <c>locks/</c>.</summary>
    public ObjectName Name => _name;

    /// <summary>
    /// Whether the lease went unrewritten for longer than its expiry (renewals failed, or the process was paused): a
    /// garbage collection may have counted its holder as dead and deleted what the holder relies on.
    /// </summary>
    public bool Lapsed => Volatile.Read(ref _lapsed) != 0 || DateTimeOffset.UtcNow.UtcTicks - Interlocked.Read(ref _writtenTicks) >= _times.Expiry.Ticks;

    /// <summary>Writes a new writer lease and returns it once the store acknowledged it.</summary>
    public static Task<ObjectWriterLease> TakeAsync(IObjectStore store, LeaseTimes times, CancellationToken cancellationToken) =>
        TakeAsync(store, NamePrefix, phase: null, times, cancellationToken);

    /// <summary>Writes a new lease <c>locks/PREFIXUUID</c> (with a <c>phase=</c> line when given) and returns it once the store acknowledged it.</summary>
    public static async Task<ObjectWriterLease> TakeAsync(IObjectStore store, string prefix, string? phase, LeaseTimes times, CancellationToken cancellationToken)
    {
        var name = new ObjectName(ObjectKind.Lock, prefix + Guid.NewGuid().ToString("N"));
        var start = DateTimeOffset.UtcNow;
        var content = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $"{(phase is null ? "" : "phase=" + phase + "\n")}host={Environment.MachineName}\npid={Environment.ProcessId}\nstarted={start:O}\n"));
        await store.SaveAsync(name, content, default, cancellationToken).ConfigureAwait(false);
        return new ObjectWriterLease(store, name, content, times, start);
    }

    /// <summary>Stops renewing and removes the lease (best effort: a lease left behind expires).</summary>
    public void Dispose() => Blocking.Wait(async () =>
    {
        await EndAsync().ConfigureAwait(false);
        return true;
    });

    /// <summary>Stops renewing and removes the lease (best effort: a lease left behind expires).</summary>
    public async Task EndAsync()
    {
        if (Interlocked.Exchange(ref _ended, 1) != 0)
        {
            return;
        }

        await _renewal.DisposeAsync().ConfigureAwait(false);
        try
        {
            await _store.RemoveAsync(_name, CancellationToken.None).ConfigureAwait(false);
        }
        catch (ObjectStoreException)
        {
            // It expires on its own; the holder's outcome is what matters.
        }
    }

    /// <inheritdoc/>
    public void Release()
    {
        Interlocked.Exchange(ref _ended, 1);
        _renewal.Dispose();
    }

    private async Task RenewAsync()
    {
        if (Volatile.Read(ref _ended) != 0)
        {
            return;
        }

        var now = DateTimeOffset.UtcNow;
        if (now.UtcTicks - Interlocked.Read(ref _writtenTicks) >= _times.Expiry.Ticks)
        {
            // Others have counted us as dead by now; writing again would not undo what they did meanwhile.
            Volatile.Write(ref _lapsed, 1);
        }

        try
        {
            await _store.SaveAsync(_name, _content, default, CancellationToken.None).ConfigureAwait(false);
            Interlocked.Exchange(ref _writtenTicks, now.UtcTicks);
        }
        catch (ObjectStoreException)
        {
            // The next renewal tries again; a commit refuses when the lease lapsed meanwhile.
        }
    }
}
