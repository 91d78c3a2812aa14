using Engine.Backup.Repository.ChunkObjects;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Tests.Crypto;

namespace Engine.Backup.Tests.ChunkObjects;

/// <summary>Counts every thread's allocations, so nothing else may run meanwhile.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ChunkReadAllocationCounting
{
    public const string Name = "Chunk read allocation counting";
}

/// <summary>
/// A restore reads chunk after chunk through the synchronous <see cref="ObjectChunkStore.Read(ChunkDigest, ulong, Span{byte})"/>:
/// the wait for the asynchronous read must cost nothing on top of the read itself (it used to be a <c>Task.Run</c>, a
/// closure and a task per chunk).
/// </summary>
[Collection(ChunkReadAllocationCounting.Name)]
public sealed class ObjectChunkReadAllocationTests
{
    private const int Reads = 2000;

    [Fact]
    public async Task Synchronous_read_allocates_no_more_than_the_asynchronous_one()
    {
        await using var store = new InMemoryObjectStore();
        var chunks = new ObjectChunkStore(store, compressionLevel: 3);
        var data = new byte[4096];
        new Random(7).NextBytes(data);
        var digest = ChunkDigest.Compute(data);
        await chunks.PutAsync(digest, data, CancellationToken.None);
        var destination = new byte[data.Length];

        long AsyncReads()
        {
            var before = GC.GetTotalAllocatedBytes(precise: true);
            for (var i = 0; i < Reads; i++)
            {
                _ = chunks.ReadAsync(digest, ChunkStore.UnknownPayloadChecksum, destination, CancellationToken.None).AsTask().GetAwaiter().GetResult();
            }

            return GC.GetTotalAllocatedBytes(precise: true) - before;
        }

        long SyncReads()
        {
            var before = GC.GetTotalAllocatedBytes(precise: true);
            for (var i = 0; i < Reads; i++)
            {
                _ = chunks.Read(digest, destination);
            }

            return GC.GetTotalAllocatedBytes(precise: true) - before;
        }

        _ = AsyncReads();
        _ = SyncReads();
        var asynchronous = AsyncReads();
        var synchronous = SyncReads();

        Assert.True(synchronous - asynchronous <= 32L * Reads,
            $"{Reads} synchronous reads allocated {synchronous} bytes, the asynchronous ones {asynchronous}: {(synchronous - asynchronous) / (double)Reads:0} bytes more per chunk");
        Assert.Equal(data, destination);
    }

    [Fact]
    public async Task First_missing_of_many_missing_chunks_is_one_of_them_whole()
    {
        // Checks finishing together once wrote the 32-byte digest unguarded: a torn mix of two would name no chunk.
        await using var store = new InMemoryObjectStore();
        var chunks = new ObjectChunkStore(store, compressionLevel: 3);
        var digests = Enumerable.Range(1, 20000).Select(i => ChunkDigest.Compute(BitConverter.GetBytes(i))).ToHashSet();
        for (var round = 0; round < 20; round++)
        {
            var missing = await chunks.FirstMissingAsync(digests, CancellationToken.None);
            Assert.Contains(missing, digests);
        }
    }
}
