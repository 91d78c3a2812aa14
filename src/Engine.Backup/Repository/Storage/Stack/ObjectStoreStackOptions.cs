using Engine.Backup.Repository.Crypto;
using Engine.Backup.Repository.Storage.Limiter;
using Engine.Backup.Repository.Storage.Retry;
using Microsoft.Extensions.Logging;

namespace Engine.Backup.Repository.Storage.Stack;

/// <summary>What <see cref="ObjectStoreStack"/> puts around a backend.</summary>
/// <param name="Retry">How to retry (null: <see cref="RetryOptions.Default"/>).</param>
/// <param name="Limits">Rate and concurrency limits; null (or all zero) for none, and then no limiter at all.</param>
/// <param name="KnownChunks">Cache the names of known chunks (<see cref="Cache.CachingObjectStore"/>).</param>
/// <param name="CachePath">The known-chunk cache's file (see <see cref="Cache.KnownObjectCache.DefaultPath"/>); null keeps it in memory.</param>
/// <param name="Cipher">Encrypt every object but <c>config</c> (<see cref="EncryptingObjectStore"/>); null for a plain repository. Not owned.</param>
/// <param name="Logger">For retries and the cache.</param>
/// <param name="RepositoryId">The repository's random id (null: none recorded), part of the cache's generation.</param>
internal sealed record ObjectStoreStackOptions(
    RetryOptions? Retry = null,
    RateLimitOptions? Limits = null,
    bool KnownChunks = true,
    string? CachePath = null,
    ObjectCipher? Cipher = null,
    ILogger? Logger = null,
    string? RepositoryId = null);
