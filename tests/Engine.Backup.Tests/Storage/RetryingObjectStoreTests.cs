using System.Diagnostics;
using Engine.Backup.Repository.Storage;
using Engine.Backup.Repository.Storage.Local;
using Engine.Backup.Repository.Storage.Retry;
using Microsoft.Extensions.Logging;

namespace Engine.Backup.Tests.Storage;

/// <summary>The retry decorator over a real local store: what it retries, how long, and what it answers after a lost reply.</summary>
public sealed class RetryingObjectStoreTests : IDisposable
{
    private static readonly RetryOptions Fast = new(MaxAttempts: 3, InitialDelay: TimeSpan.FromMilliseconds(1), MaxDelay: TimeSpan.FromMilliseconds(5));

    private readonly TempDir _dir = new();
    private readonly InstrumentedObjectStore _inner;
    private readonly ListLogger _log = new();

    public RetryingObjectStoreTests()
    {
        _inner = new InstrumentedObjectStore(new LocalDirectoryStore(_dir["repo"]));
    }

    public void Dispose() => _dir.Dispose();

    private RetryingObjectStore Retrying(RetryOptions options) => new(_inner, options, _log);

    private ObjectStoreException Transient(int call) => new(_inner.Location, "", $"503 slow down (call {call})", isTransient: true);

    private static ObjectName Manifest => new(ObjectKind.Snapshot, "vm/100/2026-12-06T10:00:00Z/manifest.json");

    [Fact]
    public async Task It_gives_up_after_the_attempts_with_the_last_error_and_logs_each_retry()
    {
        await using var store = Retrying(Fast);
        _inner.FailBefore = Transient;

        var e = await Assert.ThrowsAsync<ObjectStoreException>(async () => await store.StatAsync(Manifest, CancellationToken.None));

        Assert.Contains("call 3", e.Message, StringComparison.Ordinal);
        Assert.Equal(3, _inner.Calls);
        var retries = _log.Entries.Where(l => l.Id.Id == 1300).Select(l => l.Message).ToArray();
        Assert.Equal(2, retries.Length);
        Assert.Contains($"stat {_inner.Location}/{Manifest.Key}: attempt 1 of 3 failed", retries[0], StringComparison.Ordinal);
        Assert.Contains("attempt 2 of 3", retries[1], StringComparison.Ordinal);
        Assert.Contains(_log.Entries, l => l.Id.Id == 1302 && l.Level == LogLevel.Error && l.Message.Contains("giving up after 3 attempts", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Transient_failures_are_retried_until_the_operation_succeeds()
    {
        await using var store = Retrying(Fast);
        await _inner.SaveAsync(Manifest, new byte[] { 1, 2, 3 }, default, CancellationToken.None);
        _inner.FailBefore = call => call <= 3 ? Transient(call) : null;

        var buffer = new byte[3];
        var read = await store.LoadAsync(Manifest, 0, buffer, CancellationToken.None);

        Assert.Equal(3, read);
        Assert.Equal(new byte[] { 1, 2, 3 }, buffer);
        Assert.Equal(4, _inner.Calls);
        Assert.Contains(_log.Entries, l => l.Id.Id == 1301 && l.Message.Contains("succeeded after 2 retries", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Permanent_failures_are_not_retried()
    {
        await using var store = Retrying(Fast);

        await Assert.ThrowsAsync<ObjectNotFoundException>(async () => await store.LoadAsync(Manifest, 0, new byte[1], CancellationToken.None));
        _inner.FailBefore = _ => new ObjectStoreException(_inner.Location, Manifest.Key, "403 access denied");
        var denied = await Assert.ThrowsAsync<ObjectStoreException>(async () => await store.RemoveAsync(Manifest, CancellationToken.None));

        Assert.Contains("403", denied.Message, StringComparison.Ordinal);
        Assert.Equal(2, _inner.Calls);
        Assert.DoesNotContain(_log.Entries, l => l.Id.Id == 1300);
    }

    [Fact]
    public async Task Cancellation_during_the_backoff_ends_the_call_at_once()
    {
        await using var store = Retrying(new RetryOptions(MaxAttempts: 5, InitialDelay: TimeSpan.FromSeconds(60)));
        _inner.FailBefore = Transient;
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        var clock = Stopwatch.StartNew();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.StatAsync(Manifest, cancel.Token));

        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(10));
        Assert.Equal(1, _inner.Calls);
    }

    [Fact]
    public async Task The_callers_cancellation_of_an_attempt_is_not_retried()
    {
        await using var store = Retrying(Fast with { AttemptTimeout = TimeSpan.FromSeconds(30) });
        _inner.Hold = TimeSpan.FromSeconds(30);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.StatAsync(Manifest, cancel.Token));

        Assert.Equal(1, _inner.Calls);
    }

    [Fact]
    public async Task An_attempt_that_outlives_its_timeout_is_retried_and_then_reported_as_a_timeout()
    {
        await using var store = Retrying(new RetryOptions(MaxAttempts: 2, InitialDelay: TimeSpan.FromMilliseconds(1), AttemptTimeout: TimeSpan.FromMilliseconds(100)));
        _inner.Hold = TimeSpan.FromSeconds(30);
        var clock = Stopwatch.StartNew();

        var e = await Assert.ThrowsAsync<ObjectStoreException>(async () => await store.SaveAsync(Manifest, new byte[] { 1 }, default, CancellationToken.None));

        Assert.True(e.IsTransient);
        Assert.Contains("timed out after 0.1 s", e.Message, StringComparison.Ordinal);
        Assert.Contains(Manifest.Key, e.Message, StringComparison.Ordinal);
        Assert.Equal(2, _inner.Calls);
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(10));
        _inner.Hold = TimeSpan.Zero;
        Assert.Null(await _inner.StatAsync(Manifest, CancellationToken.None));
    }

    [Fact]
    public async Task No_retry_starts_after_the_total_time_bound()
    {
        await using var store = Retrying(new RetryOptions(MaxAttempts: 10, InitialDelay: TimeSpan.FromSeconds(2), MaxElapsed: TimeSpan.FromMilliseconds(100)));
        _inner.FailBefore = Transient;
        var clock = Stopwatch.StartNew();

        await Assert.ThrowsAsync<ObjectStoreException>(async () => await store.StatAsync(Manifest, CancellationToken.None));

        Assert.Equal(1, _inner.Calls);
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task An_if_absent_save_whose_answer_was_lost_is_written_when_the_store_holds_our_bytes()
    {
        await using var store = Retrying(Fast);
        var lockName = new ObjectName(ObjectKind.Lock, "gc");
        byte[] ours = [1, 2, 3];
        _inner.FailAfter = call => call == 1 ? Transient(call) : null;

        var outcome = await store.SaveAsync(lockName, ours, new SaveOptions(IfAbsent: true), CancellationToken.None);

        Assert.Equal(SaveOutcome.Written, outcome);
        Assert.Equal(2, _inner.Saves);
    }

    [Fact]
    public async Task An_if_absent_save_retried_into_another_writers_object_already_exists()
    {
        await using var store = Retrying(Fast);
        var lockName = new ObjectName(ObjectKind.Lock, "gc");
        await _inner.SaveAsync(lockName, new byte[] { 9, 9, 9 }, default, CancellationToken.None);
        _inner.FailBefore = call => call == 2 ? Transient(call) : null;

        var outcome = await store.SaveAsync(lockName, new byte[] { 1, 2, 3 }, new SaveOptions(IfAbsent: true), CancellationToken.None);

        Assert.Equal(SaveOutcome.AlreadyExists, outcome);
        Assert.Equal(3, _inner.Saves);
    }

    [Fact]
    public async Task A_chunk_whose_save_answer_was_lost_already_exists_without_being_read_back()
    {
        await using var store = Retrying(Fast);
        byte[] content = [5, 6, 7, 8];
        var chunk = new ObjectName(ObjectKind.Chunk, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(content)));
        _inner.FailAfter = call => call == 1 ? Transient(call) : null;

        var outcome = await store.SaveAsync(chunk, content, new SaveOptions(IfAbsent: true), CancellationToken.None);

        Assert.Equal(SaveOutcome.AlreadyExists, outcome);
        Assert.Equal(0, _inner.Loads);
        Assert.Equal(0, _inner.Stats);
    }

    [Fact]
    public async Task A_listing_that_fails_before_its_first_object_is_retried()
    {
        await using var store = Retrying(Fast);
        await _inner.SaveAsync(Manifest, new byte[] { 1 }, default, CancellationToken.None);
        _inner.FailBefore = call => call == 2 ? Transient(call) : null;

        var listed = new List<ObjectInfo>();
        await foreach (var info in store.ListAsync(ObjectKind.Snapshot, CancellationToken.None))
        {
            listed.Add(info);
        }

        Assert.Equal(Manifest, Assert.Single(listed).Name);
        Assert.Equal(2, _inner.Lists);
    }
}
