using System.Security.Cryptography;
using System.Text;
using Engine.Backup.Repository.Storage.Cache;
using Engine.Backup.Repository.Storage.Limiter;
using Engine.Backup.Repository.Storage.Retry;

namespace Engine.Backup.Repository.Storage.Stack;

/// <summary>
/// Builds the one order of decorators every repository uses, innermost first: the backend, then
/// <see cref="RetryingObjectStore"/> (each request retried alone), <see cref="RateLimitedObjectStore"/> (retries count
/// against the limits too), <see cref="CachingObjectStore"/> (a known chunk costs no request, not even a limited one),
/// and <see cref="EncryptingObjectStore"/> outermost (everything below, the cache's file included, sees only
/// ciphertext and keyed names). The cache's generation is the repository's id and the content of <c>locks/epoch</c>,
/// read once here: garbage collection raises the epoch around deleting chunks, so a cache written before then is
/// dropped, and a bucket emptied and initialised again has a new id, so a cache of its old chunks is dropped too
/// (docs/storage-protocol.md).
/// </summary>
internal static class ObjectStoreStack
{
    /// <summary>The object garbage collection raises after it deleted chunks.</summary>
    public static ObjectName Epoch { get; } = new(ObjectKind.Lock, "epoch");

    /// <summary>The generation of a repository that never saw a garbage collection (no <c>locks/epoch</c>).</summary>
    public const string InitialGeneration = "0";

    // An epoch is a counter; more than this is not one, and is hashed rather than trusted as a line of the cache file.
    private const int MaxEpochLength = 64;

    /// <summary>Wraps <paramref name="backend"/> (owned: the returned store disposes it) as <paramref name="options"/> say.</summary>
    public static async Task<IObjectStore> BuildAsync(IObjectStore backend, ObjectStoreStackOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(options);
        IObjectStore store = new RetryingObjectStore(backend, options.Retry ?? RetryOptions.Default, options.Logger);
        try
        {
            if (options.Limits is { } limits && (limits.UploadBytesPerSecond != 0 || limits.DownloadBytesPerSecond != 0 || limits.MaxConcurrentRequests != 0))
            {
                store = new RateLimitedObjectStore(store, limits);
            }

            if (options.KnownChunks)
            {
                var epoch = await ReadGenerationAsync(store, cancellationToken).ConfigureAwait(false);
                var generation = options.RepositoryId is { Length: > 0 } id ? string.Concat(Token(id), ":", epoch) : epoch;
                store = new CachingObjectStore(store, new KnownObjectCache(options.CachePath, generation, options.Logger));
            }

            return options.Cipher is { } cipher ? new EncryptingObjectStore(store, cipher) : store;
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The content of <c>locks/epoch</c> as a one-line token (<see cref="InitialGeneration"/> when absent).</summary>
    public static async Task<string> ReadGenerationAsync(IObjectStore store, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        var buffer = new byte[MaxEpochLength + 1];
        int read;
        try
        {
            read = await store.LoadAsync(Epoch, 0, buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (ObjectNotFoundException)
        {
            return InitialGeneration;
        }

        var text = Encoding.UTF8.GetString(buffer, 0, read).Trim();
        return read <= MaxEpochLength && text.Length > 0 && ObjectName.IsValidName(ObjectKind.Lock, text) && !text.Contains('/', StringComparison.Ordinal)
            ? text
            : "sha256:" + Convert.ToHexStringLower(SHA256.HashData(buffer.AsSpan(0, read)));
    }

    /// <summary>A repository id as one line of the cache's file: as it is when it is a short hex string (as <c>engine init</c> writes), hashed otherwise.</summary>
    private static string Token(string id) => id.Length <= MaxEpochLength && id.All(char.IsAsciiHexDigit)
        ? id
        : "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(id)));
}
