using Engine.Backup.Repository.Chunks;
using Engine.Backup.Transfer;
using Engine.Blocks.Buffers;
using Engine.Blocks.Work;

namespace Engine.Backup.Containers.Archive;

/// <summary>
/// Compresses and stores chunks on worker tasks while the walker goes on reading: the producer hashes (so the catalog
/// can name each chunk at once) and hands over a pooled copy. A chunk already handed over in this backup is not
/// queued again. The first failure stops the workers and is rethrown to the producer.
/// </summary>
internal sealed class ChunkUploader : IAsyncDisposable
{
    private readonly IRepositoryChunks _store;
    private readonly BackupCounters _counters;
    private readonly WorkerPipeline<Upload> _queue;
    private readonly HashSet<ChunkDigest> _seen = [];

    public ChunkUploader(IRepositoryChunks store, BackupCounters counters, int workers, CancellationToken cancellationToken)
    {
        _store = store;
        _counters = counters;
        _queue = new WorkerPipeline<Upload>(workers, workers * 2, StoreAsync, static upload => upload.Data.Dispose(), cancellationToken);
    }

    /// <summary>
    /// Stores <paramref name="data"/> under <paramref name="digest"/> (computed by the caller) unless this backup has
    /// already queued it or it is the zero digest. Waits while the queue is full.
    /// </summary>
    public ValueTask SubmitAsync(ChunkDigest digest, ReadOnlyMemory<byte> data)
    {
        _queue.ThrowIfStopped();
        if (digest.IsZero)
        {
            _counters.Zero();
            return ValueTask.CompletedTask;
        }

        if (!_seen.Add(digest))
        {
            _counters.Reused(data.Length);
            return ValueTask.CompletedTask;
        }

        var copy = BufferPool.Shared.Rent(data.Length);
        data.Span.CopyTo(copy.Span);
        return _queue.SubmitAsync(new Upload(digest, copy));
    }

    /// <summary>Waits for every queued chunk to be stored; rethrows the first failure.</summary>
    public Task CompleteAsync() => _queue.CompleteAsync();

    public ValueTask DisposeAsync() => _queue.DisposeAsync();

    private async ValueTask StoreAsync(Upload upload, CancellationToken cancellationToken)
    {
        using (upload.Data)
        {
            var result = await _store.PutAsync(upload.Digest, upload.Data.Memory, cancellationToken).ConfigureAwait(false);
            if (result.Stored)
            {
                _counters.Stored(upload.Data.Length, result.StoredBytes);
            }
            else
            {
                _counters.Reused(upload.Data.Length);
            }
        }
    }

    private readonly record struct Upload(ChunkDigest Digest, NativeBuffer Data);
}
