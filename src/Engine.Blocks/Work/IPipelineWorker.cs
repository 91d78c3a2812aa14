namespace Engine.Blocks.Work;

/// <summary>
/// One worker of a <see cref="WorkerPipeline{T}"/>, with whatever state it keeps between items (a write buffer, an
/// inflater). Each worker is driven by one task, so its state needs no locking. A worker that is also
/// <see cref="IDisposable"/> is disposed when its task ends, whether the pipeline succeeded or failed.
/// </summary>
/// <typeparam name="T">The items the producer hands over.</typeparam>
internal interface IPipelineWorker<in T>
{
    /// <summary>Processes one item and releases whatever it owns, even when it fails.</summary>
    /// <param name="item">The item, owned by the worker from here on.</param>
    /// <param name="cancellationToken">Cancelled at the pipeline's first failure or the caller's cancellation.</param>
    ValueTask ProcessAsync(T item, CancellationToken cancellationToken);

    /// <summary>Called once after the producer completed and the queue is drained, unless the pipeline failed: flushes what the worker holds back.</summary>
    /// <param name="cancellationToken">Cancelled at the pipeline's first failure or the caller's cancellation.</param>
    ValueTask FinishAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;
}
