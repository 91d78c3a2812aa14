using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using Engine.Backup.Repository;
using Engine.Backup.VmBackup;
using Engine.Blocks.Buffers;

namespace Engine.Backup.Containers.Archive;

/// <summary>
/// Compresses and stores chunks on worker tasks while the walker goes on reading: the producer hashes (so the catalog
/// can name each chunk at once) and hands over a pooled copy; a bounded queue keeps memory at a few chunks per
/// worker. A chunk already handed over in this backup is not queued again. The first failure stops the workers and is
/// rethrown to the producer.
/// </summary>
internal sealed class ChunkUploader : IAsyncDisposable
{
    private readonly ChunkStore _store;
    private readonly BackupCounters _counters;
    private readonly Channel<Upload> _queue;
    private readonly CancellationTokenSource _failure;
    private readonly Task[] _workers;
    private readonly HashSet<ChunkDigest> _seen = [];
    private Exception? _error;
    private bool _completed;

    public ChunkUploader(ChunkStore store, BackupCounters counters, int workers, CancellationToken cancellationToken)
    {
        _store = store;
        _counters = counters;
        _queue = Channel.CreateBounded<Upload>(new BoundedChannelOptions(workers * 2) { SingleWriter = true });
        _failure = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _workers = new Task[workers];
        for (var i = 0; i < workers; i++)
        {
            _workers[i] = Task.Run(WorkAsync, CancellationToken.None);
        }
    }

    /// <summary>
    /// Stores <paramref name="data"/> under <paramref name="digest"/> (computed by the caller) unless this backup has
    /// already queued it or it is the zero digest. Waits while the queue is full.
    /// </summary>
    public async ValueTask SubmitAsync(ChunkDigest digest, ReadOnlyMemory<byte> data)
    {
        ThrowIfFailed();
        if (digest.IsZero)
        {
            _counters.Zero();
            return;
        }

        if (!_seen.Add(digest))
        {
            _counters.Reused(data.Length);
            return;
        }

        var copy = BufferPool.Shared.Rent(data.Length);
        data.Span.CopyTo(copy.Span);
        try
        {
            await _queue.Writer.WriteAsync(new Upload(digest, copy), _failure.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            copy.Dispose();
            ThrowIfFailed();
            throw;
        }
    }

    /// <summary>Waits for every queued chunk to be stored; rethrows the first failure.</summary>
    public async Task CompleteAsync()
    {
        _completed = true;
        _queue.Writer.TryComplete();
        await Task.WhenAll(_workers).ConfigureAwait(false);
        ThrowIfFailed();
        _failure.Token.ThrowIfCancellationRequested();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_completed)
        {
            _failure.Cancel();
            _queue.Writer.TryComplete();
            await Task.WhenAll(_workers).ConfigureAwait(false);
        }

        while (_queue.Reader.TryRead(out var left))
        {
            left.Data.Dispose();
        }

        _failure.Dispose();
    }

    private async Task WorkAsync()
    {
        try
        {
            await foreach (var upload in _queue.Reader.ReadAllAsync(_failure.Token).ConfigureAwait(false))
            {
                using (upload.Data)
                {
                    var result = await _store.PutAsync(upload.Digest, upload.Data.Memory, _failure.Token).ConfigureAwait(false);
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
        }
        catch (OperationCanceledException) when (_failure.IsCancellationRequested)
        {
            // stopping: the first failure (or the caller's cancellation) is what counts
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref _error, e, null);
            await _failure.CancelAsync().ConfigureAwait(false);
        }
    }

    private void ThrowIfFailed()
    {
        if (Volatile.Read(ref _error) is { } error)
        {
            ExceptionDispatchInfo.Capture(error).Throw();
        }
    }

    private readonly record struct Upload(ChunkDigest Digest, NativeBuffer Data);
}
