using System.Text.Json;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Backends;
using Engine.Backup.Repository.Storage;

namespace Engine.Backup.S3;

/// <summary>Creates repositories in S3 (<c>engine init --repo s3://BUCKET/PREFIX</c>) and opens them.</summary>
public static class S3Repository
{
    /// <summary>
    /// Opens the repository <c>engine init</c> made at <paramref name="location"/>: reads its <c>config</c> object (the
    /// chunk format and the retention every snapshot gets) and returns the one <see cref="BackupRepository"/> facade
    /// over the bucket. Nothing is created: a bucket or prefix without a repository is an error.
    /// </summary>
    /// <param name="location">The bucket and prefix.</param>
    /// <param name="options">Endpoint and credentials.</param>
    /// <param name="cachePath">The known-chunk cache's file; null keeps it in memory.</param>
    /// <param name="cancellationToken">Cancels the open.</param>
    /// <exception cref="RepositoryNotFoundException">The bucket exists but holds no repository at that prefix.</exception>
    /// <exception cref="ObjectStoreException">No such bucket, access denied, or the endpoint cannot be reached.</exception>
    /// <exception cref="RepositoryCorruptException">The <c>config</c> object is not a repository configuration this Engine reads.</exception>
    public static async Task<BackupRepository> OpenAsync(S3RepositoryLocation location, S3StoreOptions options, string? cachePath, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(location);
        ArgumentNullException.ThrowIfNull(options);
        var store = await S3ObjectStore.OpenAsync(location, options, cancellationToken).ConfigureAwait(false);
        try
        {
            var config = await ReadConfigAsync(store, cancellationToken).ConfigureAwait(false);
            var settings = new ObjectRepositorySettings
            {
                ChunkSize = config.ChunkSize,
                CompressionLevel = config.CompressionLevel,
                RetainDays = config.RetainDays,
                LockMode = string.Equals(config.LockMode, nameof(ObjectLockMode.Governance), StringComparison.OrdinalIgnoreCase) ? ObjectLockMode.Governance : ObjectLockMode.Compliance,
                CachePath = cachePath,
                RepositoryId = config.RepositoryId,
            };
            return await BackupRepository.OpenAsync(store, settings, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task<S3RepositoryConfig> ReadConfigAsync(S3ObjectStore store, CancellationToken cancellationToken)
    {
        var where = store.Location + "/" + ObjectName.Config.Key;
        if (await store.StatAsync(ObjectName.Config, cancellationToken).ConfigureAwait(false) is not { } info)
        {
            throw new RepositoryNotFoundException(store.Location);
        }

        if (info.Length > 64 << 10)
        {
            throw new RepositoryCorruptException(where, $"{where} is {info.Length} bytes, not a repository configuration");
        }

        var bytes = new byte[info.Length];
        var read = await store.LoadAsync(ObjectName.Config, 0, bytes, cancellationToken).ConfigureAwait(false);
        S3RepositoryConfig? config;
        try
        {
            config = JsonSerializer.Deserialize(bytes.AsSpan(0, read), S3JsonContext.Default.S3RepositoryConfig);
        }
        catch (JsonException e)
        {
            throw new RepositoryCorruptException(where, $"{where} is not a valid repository configuration: {e.Message}", e);
        }

        if (config is null || config.Format != S3RepositoryConfig.CurrentFormat)
        {
            throw new RepositoryCorruptException(where, $"{where}: unsupported repository format {config?.Format} (this Engine reads format {S3RepositoryConfig.CurrentFormat})");
        }

        return config;
    }

    /// <summary>
    /// Creates the bucket when it is missing (with Object Lock when <paramref name="retention"/> is given) and writes
    /// the repository's <c>config</c> object, unless one is already there
    /// (<see cref="S3InitResult.AlreadyRepository"/>).
    /// </summary>
    /// <exception cref="ObjectStoreException">The bucket exists without Object Lock though a retention is asked, access is denied, or the endpoint cannot be reached.</exception>
    public static async Task<S3InitResult> InitializeAsync(S3RepositoryLocation location, S3StoreOptions options, S3RetentionSettings? retention, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(location);
        ArgumentNullException.ThrowIfNull(options);
        if (retention is { Days: < 1 })
        {
            throw new ArgumentOutOfRangeException(nameof(retention), retention.Days, "the retention must be at least one day");
        }

        var client = S3ClientFactory.Create(options);
        S3BucketState state;
        bool created;
        try
        {
            (created, state) = await S3BucketSetup.EnsureAsync(client, location, options, retention is not null, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            client.Dispose();
            throw;
        }

        await using var store = S3ObjectStore.Wrap(client, location, options, state);
        var result = new S3InitResult(location.ToString(), options.EndpointText, created, state.ObjectLock, AlreadyRepository: true);
        if (await store.StatAsync(ObjectName.Config, cancellationToken).ConfigureAwait(false) is not null)
        {
            return result;
        }

        var defaults = new RepositoryOptions();
        var config = new S3RepositoryConfig
        {
            ChunkSize = defaults.ChunkSize,
            CompressionLevel = defaults.CompressionLevel,
            RetainDays = retention?.Days,
            LockMode = retention?.Mode.ToString(),
            RepositoryId = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16)),
            Created = DateTimeOffset.UtcNow,
        };
        var content = JsonSerializer.SerializeToUtf8Bytes(config, S3JsonContext.Default.S3RepositoryConfig);
        // If-None-Match: two inits racing leave one configuration, and the loser says so.
        var outcome = await store.SaveAsync(ObjectName.Config, content, new SaveOptions(IfAbsent: true), cancellationToken).ConfigureAwait(false);
        return result with { AlreadyRepository = outcome == SaveOutcome.AlreadyExists };
    }
}
