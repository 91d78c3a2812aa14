using Engine.Blocks.Work;

namespace Engine.Blocks.Tests;

/// <summary>Runs alone: it counts the whole process's allocations.</summary>
[CollectionDefinition(nameof(AllocationCounting), DisableParallelization = true)]
public sealed class AllocationCounting;

/// <summary>
/// The pipeline's hot path: once warm, handing an item to a worker allocates no object per item. (Not strictly
/// nothing: a state-machine box or waiter made when a hand-off lands on another thread than its pool cache shows
/// up as a few bytes per item on average, about 4 here.)
/// </summary>
[Collection(nameof(AllocationCounting))]
public sealed class WorkerPipelineAllocationTests
{
    [Fact]
    public async Task Once_warm_passing_items_through_allocates_no_object_per_item()
    {
        const int warmUp = 10_000;
        const int measured = 200_000;
        long sum = 0;
        await using var pipeline = new WorkerPipeline<long>(1, 8, (item, _) =>
        {
            sum += item;
            return ValueTask.CompletedTask;
        }, null, CancellationToken.None);

        long before = 0;
        await pipeline.RunAsync(async (p, _) =>
        {
            for (var i = 0; i < warmUp + measured; i++)
            {
                if (i == warmUp)
                {
                    before = GC.GetTotalAllocatedBytes(precise: true);
                }

                await p.SubmitAsync(1);
            }
        });
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;

        Assert.Equal(warmUp + measured, sum);

        // Waits for room or for items reuse the channel's cached waiters and pooled state machines. The smallest object
        // is 24 bytes: one per item (a Task, a closure, a boxed item) would be 4.8 MB here; 16 bytes per item allows
        // the occasional box or waiter, not that.
        Assert.True(allocated < measured * 16L, $"{allocated} bytes allocated for {measured} items");
    }
}
