using System.Diagnostics;
using Engine.Backup.Repository.Storage;
using Engine.Backup.Repository.Storage.Limiter;
using Engine.Backup.Repository.Storage.Local;
using Xunit.Abstractions;

namespace Engine.Backup.Tests.Storage;

/// <summary>The rate limiter over a real local store, measured with a stopwatch.</summary>
public sealed class RateLimitedObjectStoreTests(ITestOutputHelper output) : IDisposable
{
    private const int FourMiB = 4 << 20;
    private const long EightMiBPerSecond = 8 << 20;

    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static ObjectName Catalog => new(ObjectKind.Snapshot, "ct/200/2026-12-06T10:00:00Z/archive.catalog");

    [Fact]
    public async Task Four_MiB_uploaded_at_8_MiB_per_second_take_at_least_0_4_seconds()
    {
        await using var store = new RateLimitedObjectStore(
            new LocalDirectoryStore(_dir["repo"]), new RateLimitOptions(UploadBytesPerSecond: EightMiBPerSecond, Burst: TimeSpan.FromMilliseconds(50)));
        var content = new byte[FourMiB];
        Random.Shared.NextBytes(content);

        var clock = Stopwatch.StartNew();
        for (var offset = 0; offset < FourMiB; offset += 1 << 20)
        {
            await store.SaveAsync(new ObjectName(ObjectKind.Snapshot, $"vm/1/t/part{offset}"), content.AsMemory(offset, 1 << 20), default, CancellationToken.None);
        }

        output.WriteLine($"4 MiB up at 8 MiB/s: {clock.Elapsed.TotalSeconds:F3} s");
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(0.4), TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Four_MiB_downloaded_at_8_MiB_per_second_take_at_least_0_4_seconds()
    {
        var inner = new LocalDirectoryStore(_dir["repo"]);
        var content = new byte[FourMiB];
        Random.Shared.NextBytes(content);
        await inner.SaveAsync(Catalog, content, default, CancellationToken.None);
        await using var store = new RateLimitedObjectStore(inner, new RateLimitOptions(DownloadBytesPerSecond: EightMiBPerSecond, Burst: TimeSpan.FromMilliseconds(50)));

        var buffer = new byte[FourMiB];
        var clock = Stopwatch.StartNew();
        for (var offset = 0; offset < FourMiB; offset += 256 << 10)
        {
            Assert.Equal(256 << 10, await store.LoadAsync(Catalog, offset, buffer.AsMemory(offset, 256 << 10), CancellationToken.None));
        }

        output.WriteLine($"4 MiB down at 8 MiB/s: {clock.Elapsed.TotalSeconds:F3} s");
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(0.4), TimeSpan.FromSeconds(30));
        Assert.Equal(content, buffer);
    }

    [Fact]
    public async Task Requests_in_flight_never_exceed_the_bound()
    {
        var inner = new InstrumentedObjectStore(new LocalDirectoryStore(_dir["repo"])) { Hold = TimeSpan.FromMilliseconds(100) };
        await using var store = new RateLimitedObjectStore(inner, new RateLimitOptions(MaxConcurrentRequests: 2));

        await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(async () => await store.StatAsync(Catalog, CancellationToken.None))));

        Assert.Equal(8, inner.Stats);
        Assert.Equal(2, inner.MaxInFlight);
    }

    [Fact]
    public async Task A_wait_for_budget_honours_cancellation()
    {
        await using var store = new RateLimitedObjectStore(
            new LocalDirectoryStore(_dir["repo"]), new RateLimitOptions(UploadBytesPerSecond: 1 << 10, Burst: TimeSpan.Zero));
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        var clock = Stopwatch.StartNew();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.SaveAsync(Catalog, new byte[1 << 20], default, cancel.Token));

        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(10));
        Assert.Null(await store.StatAsync(Catalog, CancellationToken.None));
    }
}
