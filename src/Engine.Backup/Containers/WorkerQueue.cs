using System.Runtime.ExceptionServices;
using System.Threading.Channels;

namespace Engine.Backup.Containers;

/// <summary>
/// A bounded queue drained by a fixed number of worker tasks: the producer waits while it is full, so memory stays at
/// a few items per worker. The first failure stops the workers and is rethrown to the producer; items never processed
/// are handed to the discard action so their buffers and handles go back.
/// </summary>
internal sealed class WorkerQueue<T> : IAsyncDisposable
{
    private readonly Channel<T> _queue;
    private readonly Func<T, CancellationToken, ValueTask> _work;
    private readonly Action<T> _discard;
    private readonly CancellationTokenSource _failure;
    private readonly Task[] _workers;
    private Exception? _error;
    private bool _completed;

    /// <param name="workers">Worker tasks.</param>
    /// <param name="capacity">Items that may wait.</param>
    /// <param name="work">Processes one item and releases what it owns.</param>
    /// <param name="discard">Releases an item that will not be processed.</param>
    /// <param name="cancellationToken">Stops the workers.</param>
    public WorkerQueue(int workers, int capacity, Func<T, CancellationToken, ValueTask> work, Action<T> discard, CancellationToken cancellationToken)
    {
        _work = work;
        _discard = discard;
        _queue = Channel.CreateBounded<T>(new BoundedChannelOptions(capacity) { SingleWriter = true });
        _failure = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _workers = new Task[workers];
        for (var i = 0; i < workers; i++)
        {
            _workers[i] = Task.Run(WorkAsync, CancellationToken.None);
        }
    }

    /// <summary>Queues an item, which the queue owns from here on (discarded if it fails).</summary>
    public async ValueTask SubmitAsync(T item)
    {
        try
        {
            ThrowIfFailed();
            await _queue.Writer.WriteAsync(item, _failure.Token).ConfigureAwait(false);
        }
        catch
        {
            _discard(item);
            ThrowIfFailed();
            throw;
        }
    }

    /// <summary>Waits until every queued item is processed; rethrows the first failure.</summary>
    public async Task CompleteAsync()
    {
        _completed = true;
        _queue.Writer.TryComplete();
        await Task.WhenAll(_workers).ConfigureAwait(false);
        ThrowIfFailed();
        _failure.Token.ThrowIfCancellationRequested();
    }

    /// <summary>Stops the workers unless completed, and discards what was never processed.</summary>
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
            _discard(left);
        }

        _failure.Dispose();
    }

    /// <summary>Throws the first failure of a worker, if any.</summary>
    public void ThrowIfFailed()
    {
        if (Volatile.Read(ref _error) is { } error)
        {
            ExceptionDispatchInfo.Capture(error).Throw();
        }
    }

    private async Task WorkAsync()
    {
        try
        {
            await foreach (var item in _queue.Reader.ReadAllAsync(_failure.Token).ConfigureAwait(false))
            {
                await _work(item, _failure.Token).ConfigureAwait(false);
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
}
