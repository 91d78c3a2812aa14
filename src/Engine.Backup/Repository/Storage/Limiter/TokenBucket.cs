namespace Engine.Backup.Repository.Storage.Limiter;

/// <summary>
/// A byte-rate limiter (the generic cell rate algorithm, a token bucket kept as one timestamp): each request of n
/// bytes moves the bucket's "paid until" time n/rate ahead and waits until that time is no more than the burst ahead
/// of now. A request larger than the burst waits for its own cost, so one 4 MiB object at 8 MiB/s takes at least
/// 0.5 s less the burst. Engine's source-read <c>BandwidthLimiter</c> is not reused: its quarter second of burst on
/// both sides lets a whole half second of traffic through unpaced, which a store's few large requests would always
/// fit into. Thread-safe; no allocation when no wait is needed.
/// </summary>
internal sealed class TokenBucket
{
    private readonly TimeProvider _time;
    private readonly double _ticksPerByte;
    private readonly long _burstTicks;
    private readonly Lock _lock = new();
    private long _paidUntil;

    /// <summary>A bucket of <paramref name="bytesPerSecond"/> (positive) that may run <paramref name="burst"/> ahead.</summary>
    public TokenBucket(long bytesPerSecond, TimeSpan burst, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytesPerSecond);
        _time = time;
        _ticksPerByte = (double)time.TimestampFrequency / bytesPerSecond;
        _burstTicks = (long)(burst.TotalSeconds * time.TimestampFrequency);
        _paidUntil = time.GetTimestamp();
    }

    /// <summary>Waits until <paramref name="bytes"/> more may pass.</summary>
    public ValueTask TakeAsync(long bytes, CancellationToken cancellationToken)
    {
        if (bytes <= 0)
        {
            return ValueTask.CompletedTask;
        }

        long wait;
        lock (_lock)
        {
            var now = _time.GetTimestamp();
            _paidUntil = Math.Max(_paidUntil, now) + (long)(bytes * _ticksPerByte);
            wait = _paidUntil - now - _burstTicks;
        }

        return wait <= 0
            ? ValueTask.CompletedTask
            : new ValueTask(Task.Delay(TimeSpan.FromSeconds((double)wait / _time.TimestampFrequency), _time, cancellationToken));
    }
}
