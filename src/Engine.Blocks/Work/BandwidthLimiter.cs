namespace Engine.Blocks.Work;

/// <summary>
/// Paces source reads to a byte rate (PVE's <c>bandwidth-limit</c>, bytes per second). A token bucket that may run
/// a quarter of a second ahead, so parallel readers keep the pipe full without exceeding the average rate.
/// </summary>
internal sealed class BandwidthLimiter
{
    private static readonly TimeSpan Burst = TimeSpan.FromMilliseconds(250);
    private readonly TimeProvider _time;
    private readonly double _ticksPerByte;
    private readonly Lock _lock = new();
    private long _nextFree;

    /// <summary>Creates a limiter; zero or a negative rate means unlimited.</summary>
    public BandwidthLimiter(long bytesPerSecond, TimeProvider? time = null)
    {
        BytesPerSecond = Math.Max(0, bytesPerSecond);
        _time = time ?? TimeProvider.System;
        _ticksPerByte = BytesPerSecond == 0 ? 0 : (double)_time.TimestampFrequency / BytesPerSecond;
        _nextFree = _time.GetTimestamp();
    }

    /// <summary>The configured rate; 0 when unlimited.</summary>
    public long BytesPerSecond { get; }

    /// <summary>Waits until <paramref name="bytes"/> more may be read.</summary>
    public ValueTask WaitAsync(long bytes, CancellationToken cancellationToken)
    {
        if (BytesPerSecond == 0 || bytes <= 0)
        {
            return ValueTask.CompletedTask;
        }

        long wait;
        lock (_lock)
        {
            var now = _time.GetTimestamp();
            var start = Math.Max(_nextFree, now - (long)(Burst.TotalSeconds * _time.TimestampFrequency));
            _nextFree = start + (long)(bytes * _ticksPerByte);
            wait = _nextFree - now - (long)(Burst.TotalSeconds * _time.TimestampFrequency);
        }

        return wait <= 0 ? ValueTask.CompletedTask : new ValueTask(Task.Delay(TimeSpan.FromSeconds((double)wait / _time.TimestampFrequency), _time, cancellationToken));
    }
}
