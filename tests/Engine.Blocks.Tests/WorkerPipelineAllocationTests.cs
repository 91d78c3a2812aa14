using Engine.Blocks.Work;

namespace Engine.Blocks.Tests;

/// <summary>Runs alone: it counts the whole process's allocations.</summary>
[CollectionDefinition(nameof(AllocationCounting), DisableParallelization = true)]
public sealed class AllocationCounting;

/// <summary>The pipeline's hot path: once warm, handing an item to a worker allocates nothing.</summary>
[Collection(nameof(AllocationCounting))]
public sealed class WorkerPipelineAllocationTests
{
    [Fact]
    public async Task Once_warm_passing_items_through_allocates_nothing_per_item()
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

        // Waits for room or for items reuse the channel's cached waiters and pooled state machines; a few hundred bytes
        // of one-off noise (the test host, the thread pool) are allowed, one allocation per item is not.
        Assert.True(allocated < measured / 4, $"{allocated} bytes allocated for {measured} items");
    }
}
