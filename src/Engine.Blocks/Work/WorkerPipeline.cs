using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Threading.Channels;

namespace Engine.Blocks.Work;

/// <summary>
/// A bounded queue from one producer to a fixed number of worker tasks. The producer waits while the queue is full,
/// so memory stays at a few items per worker. The first failure, of a worker or of the producer, stops everything
/// and is the exception thrown; the cancellations it causes elsewhere are not reported. Items never processed go to
/// the discard action, so their buffers and handles go back.
/// </summary>
/// <remarks>
/// Items are processed in no particular order. Channel operations run without a cancellation token, so that a waiting
/// producer or worker reuses the channel's one cached waiter instead of allocating one; stopping completes the
/// channel instead, which wakes them all.
/// </remarks>
/// <typeparam name="T">The items the producer hands over; the pipeline owns each one from <see cref="SubmitAsync"/> on.</typeparam>
internal sealed class WorkerPipeline<T> : IAsyncDisposable
{
    private readonly Channel<T> _queue;
    private readonly Action<T>? _discard;
    private readonly CancellationTokenSource _stop = new();
    private readonly CancellationToken _callerToken;
    private readonly CancellationTokenRegistration _callerRegistration;
    private readonly Task[] _workers;
    private Exception? _error;
    private int _completed;
    private int _disposed;

    /// <summary>Starts <paramref name="workers"/> tasks, each running one worker made by <paramref name="createWorker"/>.</summary>
    /// <param name="workers">Worker tasks (at least 1).</param>
    /// <param name="capacity">Items that may wait in the queue (at least 1).</param>
    /// <param name="createWorker">Called once per task, on the caller's thread, before any task starts.</param>
    /// <param name="discard">Releases an item that will not be processed; null when items own nothing.</param>
    /// <param name="cancellationToken">Stops the pipeline; <see cref="CompleteAsync"/> then throws <see cref="OperationCanceledException"/>.</param>
    public WorkerPipeline(int workers, int capacity, Func<IPipelineWorker<T>> createWorker, Action<T>? discard, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(workers);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        ArgumentNullException.ThrowIfNull(createWorker);
        _discard = discard;
        _callerToken = cancellationToken;
        _queue = Channel.CreateBounded<T>(new BoundedChannelOptions(capacity) { SingleWriter = true });
        var created = new IPipelineWorker<T>[workers];
        try
        {
            for (var i = 0; i < workers; i++)
            {
                created[i] = createWorker();
            }
        }
        catch
        {
            // No task runs yet, so nothing else would ever release the workers already made (their buffers).
            foreach (var worker in created)
            {
                (worker as IDisposable)?.Dispose();
            }

            throw;
        }

        _workers = new Task[workers];
        for (var i = 0; i < workers; i++)
        {
            var worker = created[i];
            _workers[i] = Task.Run(() => WorkAsync(worker), CancellationToken.None);
        }

        _callerRegistration = cancellationToken.UnsafeRegister(static state => ((WorkerPipeline<T>)state!).Stop(), this);
    }

    /// <summary>Starts <paramref name="workers"/> tasks that share one stateless <paramref name="process"/> delegate.</summary>
    /// <param name="workers">Worker tasks (at least 1).</param>
    /// <param name="capacity">Items that may wait in the queue (at least 1).</param>
    /// <param name="process">Processes one item and releases what it owns, even when it fails.</param>
    /// <param name="discard">Releases an item that will not be processed; null when items own nothing.</param>
    /// <param name="cancellationToken">Stops the pipeline; <see cref="CompleteAsync"/> then throws <see cref="OperationCanceledException"/>.</param>
    public WorkerPipeline(int workers, int capacity, Func<T, CancellationToken, ValueTask> process, Action<T>? discard, CancellationToken cancellationToken)
        : this(workers, capacity, SharedWorker(process), discard, cancellationToken)
    {
    }

    /// <summary>
    /// Cancelled at the first failure or at the caller's cancellation: the producer passes it to its own I/O, so a
    /// failing worker never leaves the producer waiting on a read.
    /// </summary>
    public CancellationToken Token => _stop.Token;

    /// <summary>Hands <paramref name="item"/> to the workers, waiting while the queue is full.</summary>
    /// <remarks>The pipeline owns the item from here on: if it cannot be queued, it is discarded before this throws.</remarks>
    /// <exception cref="OperationCanceledException">The caller's token was cancelled.</exception>
    /// <exception cref="Exception">The pipeline's first failure, rethrown as it was.</exception>
    public ValueTask SubmitAsync(T item)
    {
        if (_error is null && !_stop.IsCancellationRequested && _queue.Writer.TryWrite(item))
        {
            return ValueTask.CompletedTask;
        }

        return SubmitSlowAsync(item);
    }

    /// <summary>
    /// Runs <paramref name="produce"/> (which submits items), then <see cref="CompleteAsync"/>. A failure of the
    /// producer stops the workers like a worker's failure does; the first failure of either is the one thrown.
    /// </summary>
    /// <param name="produce">The producer; it receives this pipeline and <see cref="Token"/>.</param>
    public async Task RunAsync(Func<WorkerPipeline<T>, CancellationToken, Task> produce)
    {
        ArgumentNullException.ThrowIfNull(produce);
        try
        {
            await produce(this, Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // Stopped by a failure (thrown below) or by the caller (who gets an OperationCanceledException below).
        }
        catch (Exception e)
        {
            Fail(e);
        }

        await CompleteAsync().ConfigureAwait(false);
    }

    /// <summary>Declares that no more items come, waits until every queued item is processed and each worker finished.</summary>
    /// <exception cref="OperationCanceledException">The caller's token was cancelled.</exception>
    /// <exception cref="Exception">The pipeline's first failure, rethrown as it was.</exception>
    public async Task CompleteAsync()
    {
        Interlocked.Exchange(ref _completed, 1);
        _queue.Writer.TryComplete();
        await Task.WhenAll(_workers).ConfigureAwait(false);
        DiscardLeftovers();
        ThrowIfStopped();
    }

    /// <summary>
    /// Records <paramref name="error"/> as the pipeline's failure unless one came first, and stops the workers. For a
    /// producer that does not use <see cref="RunAsync"/>.
    /// </summary>
    public void Fail(Exception error)
    {
        ArgumentNullException.ThrowIfNull(error);
        Interlocked.CompareExchange(ref _error, error, null);
        Stop();
    }

    /// <summary>Throws the first failure, if any, or <see cref="OperationCanceledException"/> if the pipeline was stopped.</summary>
    public void ThrowIfStopped()
    {
        if (Volatile.Read(ref _error) is { } error)
        {
            ExceptionDispatchInfo.Throw(error);
        }

        if (_stop.IsCancellationRequested)
        {
            throw new OperationCanceledException(_callerToken.IsCancellationRequested ? _callerToken : _stop.Token);
        }
    }

    /// <summary>Stops the workers unless <see cref="CompleteAsync"/> ran, waits for them, and discards what was never processed.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (Volatile.Read(ref _completed) == 0)
        {
            Stop();
        }

        await _callerRegistration.DisposeAsync().ConfigureAwait(false);
        await Task.WhenAll(_workers).ConfigureAwait(false);
        DiscardLeftovers();
        _stop.Dispose();
    }

    private static Func<IPipelineWorker<T>> SharedWorker(Func<T, CancellationToken, ValueTask> process)
    {
        ArgumentNullException.ThrowIfNull(process);
        var worker = new DelegateWorker<T>(process);
        return () => worker;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask SubmitSlowAsync(T item)
    {
        try
        {
            ThrowIfStopped();

            // No token: a stop completes the channel, which ends this wait with ChannelClosedException.
            await _queue.Writer.WriteAsync(item, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _discard?.Invoke(item);
            ThrowIfStopped();
            ExceptionDispatchInfo.Throw(e);
        }
    }

    private async Task WorkAsync(IPipelineWorker<T> worker)
    {
        var reader = _queue.Reader;
        try
        {
            while (await reader.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
            {
                while (!_stop.IsCancellationRequested && reader.TryRead(out var item))
                {
                    await worker.ProcessAsync(item, _stop.Token).ConfigureAwait(false);
                }

                if (_stop.IsCancellationRequested)
                {
                    return;
                }
            }

            if (!_stop.IsCancellationRequested)
            {
                await worker.FinishAsync(_stop.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // Stopping: the first failure (or the caller's cancellation) is what counts.
        }
        catch (Exception e)
        {
            Fail(e);
        }
        finally
        {
            (worker as IDisposable)?.Dispose();
        }
    }

    private void Stop()
    {
        try
        {
            _stop.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The caller's token fired after the pipeline was disposed.
            return;
        }

        // Wakes a producer waiting for room and workers waiting for items.
        _queue.Writer.TryComplete();
    }

    private void DiscardLeftovers()
    {
        while (_queue.Reader.TryRead(out var left))
        {
            _discard?.Invoke(left);
        }
    }
}
