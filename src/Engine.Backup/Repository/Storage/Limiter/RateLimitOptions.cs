namespace Engine.Backup.Repository.Storage.Limiter;

/// <summary>The limits of <see cref="RateLimitedObjectStore"/>; 0 means unlimited.</summary>
/// <param name="UploadBytesPerSecond">Average rate of object content sent by saves.</param>
/// <param name="DownloadBytesPerSecond">Average rate of object content received by loads.</param>
/// <param name="MaxConcurrentRequests">Operations in flight at once (each save, load, stat, remove and each step of a listing is one).</param>
/// <param name="Burst">How far ahead of the average an idle link may run (default 100 ms worth of bytes).</param>
public sealed record RateLimitOptions(long UploadBytesPerSecond = 0, long DownloadBytesPerSecond = 0, int MaxConcurrentRequests = 0, TimeSpan? Burst = null);
