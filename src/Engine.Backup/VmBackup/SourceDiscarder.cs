using Engine.Backup.Repository;
using Engine.Sources;

namespace Engine.Backup.VmBackup;

/// <summary>
/// Frees source ranges only after the chunks holding them are durable. Ranges collect until a batch is large
/// enough, then one syncfs on the repository makes them durable and they are discarded at the source.
/// </summary>
internal sealed class SourceDiscarder(IVolumeSource source, BackupRepository repository, long batchBytes, bool enabled) : IDisposable
{
    private readonly SemaphoreSlim _checkpoint = new(1, 1);
    private readonly Lock _lock = new();
    private List<SourceRange> _pending = [];
    private long _pendingBytes;

    /// <summary>Ranges discarded so far.</summary>
    public long DiscardedBytes { get; private set; }

    private bool Active => enabled && source.CanDiscard;

    /// <summary>Queues ranges whose chunk was just stored; checkpoints when the batch is full.</summary>
    public async ValueTask AddAsync(List<SourceRange> ranges, CancellationToken cancellationToken)
    {
        if (!Active)
        {
            return;
        }

        bool full;
        lock (_lock)
        {
            foreach (var range in ranges)
            {
                _pending.Add(range);
                _pendingBytes += range.Length;
            }

            full = _pendingBytes >= batchBytes;
        }

        if (full && _checkpoint.Wait(0, CancellationToken.None))
        {
            try
            {
                await CheckpointAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _checkpoint.Release();
            }
        }
    }

    /// <summary>Makes everything queued durable and discards it; call once all chunks are stored.</summary>
    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        if (!Active)
        {
            return;
        }

        await _checkpoint.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await CheckpointAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _checkpoint.Release();
        }
    }

    public void Dispose() => _checkpoint.Dispose();

    private async ValueTask CheckpointAsync(CancellationToken cancellationToken)
    {
        List<SourceRange> batch;
        lock (_lock)
        {
            (batch, _pending) = (_pending, []);
            _pendingBytes = 0;
        }

        if (batch.Count == 0)
        {
            return;
        }

        // Everything in the batch was stored before it was queued, so one sync covers all of it.
        await Task.Run(repository.SyncFileSystem, cancellationToken).ConfigureAwait(false);
        foreach (var range in batch)
        {
            await source.DiscardAsync(range.Offset, range.Length, cancellationToken).ConfigureAwait(false);
            DiscardedBytes += range.Length;
        }
    }
}
