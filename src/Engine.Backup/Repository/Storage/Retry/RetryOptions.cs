namespace Engine.Backup.Repository.Storage.Retry;

/// <summary>How <see cref="RetryingObjectStore"/> retries: bounded in attempts and in total time, with exponential backoff and equal jitter (each wait is random in the upper half of its ceiling).</summary>
/// <param name="MaxAttempts">Attempts in all, the first included (1: no retry).</param>
/// <param name="InitialDelay">The backoff ceiling before the first retry; each later retry doubles it.</param>
/// <param name="MaxDelay">The largest backoff ceiling.</param>
/// <param name="MaxElapsed">No retry starts after this much time since the first attempt (a dead gateway fails the backup in bounded time).</param>
/// <param name="AttemptTimeout">Each attempt is cancelled after this long and counts as a transient failure; null for none.</param>
public sealed record RetryOptions(
    int MaxAttempts = 6,
    TimeSpan? InitialDelay = null,
    TimeSpan? MaxDelay = null,
    TimeSpan? MaxElapsed = null,
    TimeSpan? AttemptTimeout = null)
{
    /// <summary>The defaults: 6 attempts, 0.5 s doubling to at most 30 s, 5 minutes in all, 2 minutes per attempt.</summary>
    public static RetryOptions Default { get; } = new(AttemptTimeout: TimeSpan.FromMinutes(2));

    /// <summary><see cref="InitialDelay"/> or its default, 0.5 s.</summary>
    public TimeSpan FirstDelay => InitialDelay ?? TimeSpan.FromMilliseconds(500);

    /// <summary><see cref="MaxDelay"/> or its default, 30 s.</summary>
    public TimeSpan DelayCeiling => MaxDelay ?? TimeSpan.FromSeconds(30);

    /// <summary><see cref="MaxElapsed"/> or its default, 5 minutes.</summary>
    public TimeSpan ElapsedCeiling => MaxElapsed ?? TimeSpan.FromMinutes(5);
}
