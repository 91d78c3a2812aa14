using Engine.Blocks.Work;

namespace Engine.Blocks.Tests;

/// <summary>
/// The shared producer → workers pipeline: every item is processed or discarded exactly once, the queue bound holds
/// the producer back, the first failure (worker or producer) stops the rest and is the one thrown, and the caller's
/// cancellation ends it with <see cref="OperationCanceledException"/>.
/// </summary>
public sealed class WorkerPipelineTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public void Workers_already_made_are_disposed_when_making_a_later_one_fails()
    {
        var made = new List<DisposableWorker>();

        var failure = Assert.Throws<InvalidOperationException>(() => new WorkerPipeline<int>(3, 1, () =>
        {
            if (made.Count == 2)
            {
                throw new InvalidOperationException("no buffer for the third worker");
            }

            var worker = new DisposableWorker();
            made.Add(worker);
            return worker;
        }, discard: null, CancellationToken.None));

        Assert.Equal("no buffer for the third worker", failure.Message);
        Assert.All(made, worker => Assert.True(worker.Disposed));
    }

    private sealed class DisposableWorker : IPipelineWorker<int>, IDisposable
    {
        public bool Disposed { get; private set; }

        public ValueTask ProcessAsync(int item, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public void Dispose() => Disposed = true;
    }

    [Fact]
    public async Task Every_item_is_processed_once_and_each_worker_finishes_once()
    {
        var seen = new int[1000];
        var finished = 0;
        var workers = new List<CountingWorker>();
        await using var pipeline = new WorkerPipeline<int>(4, 3, () =>
        {
            var worker = new CountingWorker(seen, () => Interlocked.Increment(ref finished));
            workers.Add(worker);
            return worker;
        }, discard: null, CancellationToken.None);

        await pipeline.RunAsync(async (p, _) =>
        {
            for (var i = 0; i < seen.Length; i++)
            {
                await p.SubmitAsync(i);
            }
        });

        Assert.All(seen, count => Assert.Equal(1, count));
        Assert.Equal(4, finished);
        Assert.Equal(seen.Length, workers.Sum(w => w.Processed));
        Assert.All(workers, w => Assert.True(w.Disposed));
    }

    [Fact]
    public async Task The_producer_waits_while_the_queue_is_full()
    {
        const int workers = 2;
        const int capacity = 3;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = 0;
        await using var pipeline = new WorkerPipeline<int>(workers, capacity, async (_, ct) =>
        {
            Interlocked.Increment(ref started);
            await gate.Task.WaitAsync(ct);
        }, discard: null, CancellationToken.None);

        // Every worker holds one item and the queue holds `capacity`: the next submit must wait.
        var accepted = 0;
        var producer = Task.Run(async () =>
        {
            for (var i = 0; i < 20; i++)
            {
                await pipeline.SubmitAsync(i);
                Interlocked.Increment(ref accepted);
            }
        });

        var deadline = DateTime.UtcNow + Patience;
        while (Volatile.Read(ref started) < workers || Volatile.Read(ref accepted) < workers + capacity)
        {
            Assert.True(DateTime.UtcNow < deadline, $"started {started}, accepted {accepted}");
            await Task.Delay(10);
        }

        await Task.Delay(200);
        Assert.Equal(workers + capacity, Volatile.Read(ref accepted));
        Assert.False(producer.IsCompleted);

        gate.SetResult();
        await producer.WaitAsync(Patience);
        await pipeline.CompleteAsync().WaitAsync(Patience);
        Assert.Equal(20, Volatile.Read(ref started));
    }

    [Fact]
    public async Task A_worker_failure_cancels_the_others_and_is_the_exception_thrown()
    {
        var discarded = 0;
        var processed = 0;
        var cancelledWorkers = 0;
        await using var pipeline = new WorkerPipeline<int>(4, 4, async (item, ct) =>
        {
            Interlocked.Increment(ref processed);
            // The others hold items 0, 1 and 3 (there are 4 workers) when item 2 fails.
            if (item == 2)
            {
                throw new InvalidDataException("item 2 is broken");
            }

            try
            {
                // The others would wait forever: only the failure's cancellation ends them.
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException)
            {
                Interlocked.Increment(ref cancelledWorkers);
                throw;
            }
        }, _ => Interlocked.Increment(ref discarded), CancellationToken.None);

        var submitted = 0;
        var error = await Assert.ThrowsAsync<InvalidDataException>(() => pipeline.RunAsync(async (p, _) =>
        {
            for (var i = 0; i < 1000; i++)
            {
                submitted++;
                await p.SubmitAsync(i);
            }
        }).WaitAsync(Patience));

        Assert.Equal("item 2 is broken", error.Message);
        Assert.True(submitted < 1000, "the producer was stopped by the failure");
        Assert.Equal(submitted, processed + discarded);
        Assert.Equal(processed - 1, cancelledWorkers);
        Assert.True(pipeline.Token.IsCancellationRequested);
    }

    [Fact]
    public async Task A_producer_failure_stops_the_workers_and_is_the_exception_thrown()
    {
        var finished = 0;
        await using var pipeline = new WorkerPipeline<int>(3, 2, () => new CountingWorker(new int[10], () => Interlocked.Increment(ref finished)), null, CancellationToken.None);

        var error = await Assert.ThrowsAsync<InvalidDataException>(() => pipeline.RunAsync(async (p, _) =>
        {
            await p.SubmitAsync(1);
            throw new InvalidDataException("the source lied at offset 4096");
        }).WaitAsync(Patience));

        Assert.Equal("the source lied at offset 4096", error.Message);
        Assert.Equal(0, finished);
    }

    [Fact]
    public async Task A_worker_failure_is_thrown_even_when_the_producer_sees_only_its_cancellation()
    {
        await using var pipeline = new WorkerPipeline<int>(2, 1, (_, _) => throw new IOException("write failed at offset 0"), null, CancellationToken.None);

        var error = await Assert.ThrowsAsync<IOException>(() => pipeline.RunAsync(async (p, ct) =>
        {
            await p.SubmitAsync(0);

            // The producer's own read, cancelled by the worker's failure.
            await Task.Delay(Timeout.Infinite, ct);
        }).WaitAsync(Patience));

        Assert.Equal("write failed at offset 0", error.Message);
    }

    [Fact]
    public async Task The_callers_cancellation_stops_it_with_OperationCanceledException_and_discards_the_rest()
    {
        using var cts = new CancellationTokenSource();
        var processed = 0;
        var discarded = 0;
        await using var pipeline = new WorkerPipeline<int>(4, 8, async (_, ct) =>
        {
            if (Interlocked.Increment(ref processed) == 3)
            {
                await cts.CancelAsync();
            }

            await Task.Delay(Timeout.Infinite, ct);
        }, _ => Interlocked.Increment(ref discarded), cts.Token);

        var submitted = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pipeline.RunAsync(async (p, _) =>
        {
            while (true)
            {
                submitted++;
                await p.SubmitAsync(submitted);
            }
        }).WaitAsync(Patience));

        Assert.Equal(submitted, processed + discarded);
    }

    [Fact]
    public async Task Disposing_without_completing_stops_the_workers_and_discards_what_is_queued()
    {
        var discarded = 0;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var pipeline = new WorkerPipeline<int>(1, 4, async (_, ct) => await gate.Task.WaitAsync(ct), _ => Interlocked.Increment(ref discarded), CancellationToken.None);
        for (var i = 0; i < 5; i++)
        {
            await pipeline.SubmitAsync(i);
        }

        await pipeline.DisposeAsync().AsTask().WaitAsync(Patience);

        // One item was taken by the worker (and ended by the stop), the rest were still queued.
        Assert.InRange(discarded, 4, 5);
        await pipeline.DisposeAsync();
    }

    /// <summary>A stateful worker: counts what it processed, when it finished and whether it was disposed.</summary>
    private sealed class CountingWorker(int[] seen, Action finished) : IPipelineWorker<int>, IDisposable
    {
        public int Processed { get; private set; }

        public bool Disposed { get; private set; }

        public ValueTask ProcessAsync(int item, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref seen[item]);
            Processed++;
            return ValueTask.CompletedTask;
        }

        public ValueTask FinishAsync(CancellationToken cancellationToken)
        {
            finished();
            return ValueTask.CompletedTask;
        }

        public void Dispose() => Disposed = true;
    }
}
