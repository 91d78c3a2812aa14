using System.Globalization;
using System.Text;
using Engine.Backup.Repository.Snapshots;
using Engine.Backup.Repository.Storage;

namespace Engine.Backup.Repository.Backends;

/// <summary>
/// A writer's lease in an object store (<c>locks/writer-UUID</c>, docs/storage-protocol.md): written before the writer
/// reserves its snapshot, rewritten every <see cref="RenewEvery"/> so it never looks stale while the writer lives, and
/// removed when the writer ends. Garbage collection deletes no chunk while a live lease exists.
/// </summary>
internal sealed class ObjectWriterLease : IWriterLease
{
    /// <summary>A lease not rewritten for this long belongs to a dead writer.</summary>
    public static readonly TimeSpan Expiry = TimeSpan.FromMinutes(15);

    /// <summary>How often a live writer rewrites its lease.</summary>
    public static readonly TimeSpan RenewEvery = TimeSpan.FromMinutes(5);

    /// <summary>The prefix of every writer lease's name under <c>locks/</c>.</summary>
    public const string NamePrefix = "writer-";

    private readonly IObjectStore _store;
    private readonly ObjectName _name;
    private readonly Timer _renewal;
    private int _ended;

    private ObjectWriterLease(IObjectStore store, ObjectName name, DateTimeOffset start)
    {
        _store = store;
        _name = name;
        Start = start;
        _renewal = new Timer(_ => _ = RenewAsync(), null, RenewEvery, RenewEvery);
    }

    /// <inheritdoc/>
    public DateTimeOffset Start { get; }

    /// <summary>Writes a new lease and returns it once the store acknowledged it.</summary>
    public static async Task<ObjectWriterLease> TakeAsync(IObjectStore store, CancellationToken cancellationToken)
    {
        var name = new ObjectName(ObjectKind.Lock, NamePrefix + Guid.NewGuid().ToString("N"));
        var start = DateTimeOffset.UtcNow;
        await store.SaveAsync(name, Content(start), default, cancellationToken).ConfigureAwait(false);
        return new ObjectWriterLease(store, name, start);
    }

    /// <summary>Whether a lease object, last written at <paramref name="lastModified"/>, still counts at <paramref name="now"/>.</summary>
    public static bool IsLive(DateTimeOffset lastModified, DateTimeOffset now) => now - lastModified < Expiry;

    /// <summary>Stops renewing and removes the lease (best effort: a lease left behind expires).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _ended, 1) != 0)
        {
            return;
        }

        _renewal.Dispose();
        try
        {
            Task.Run(async () => await _store.RemoveAsync(_name, CancellationToken.None).ConfigureAwait(false)).GetAwaiter().GetResult();
        }
        catch (ObjectStoreException)
        {
            // It expires on its own; the backup's outcome is what matters.
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

        try
        {
            await _store.SaveAsync(_name, Content(Start), default, CancellationToken.None).ConfigureAwait(false);
        }
        catch (ObjectStoreException)
        {
            // The next renewal tries again; a commit re-checks the epoch anyway.
        }
    }

    private static byte[] Content(DateTimeOffset start) => Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
        $"host={Environment.MachineName}\npid={Environment.ProcessId}\nstarted={start:O}\n"));
}
