namespace Engine.Blocks.Work;

/// <summary>A stateless <see cref="IPipelineWorker{T}"/> over one delegate, shared by all the pipeline's tasks.</summary>
internal sealed class DelegateWorker<T>(Func<T, CancellationToken, ValueTask> process) : IPipelineWorker<T>
{
    public ValueTask ProcessAsync(T item, CancellationToken cancellationToken) => process(item, cancellationToken);
}
