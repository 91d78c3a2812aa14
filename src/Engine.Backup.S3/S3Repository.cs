using System.Text.Json;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Storage;

namespace Engine.Backup.S3;

/// <summary>Creates repositories in S3 (<c>engine init --repo s3://BUCKET/PREFIX</c>).</summary>
public static class S3Repository
{
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
            Created = DateTimeOffset.UtcNow,
        };
        var content = JsonSerializer.SerializeToUtf8Bytes(config, S3JsonContext.Default.S3RepositoryConfig);
        // If-None-Match: two inits racing leave one configuration, and the loser says so.
        var outcome = await store.SaveAsync(ObjectName.Config, content, new SaveOptions(IfAbsent: true), cancellationToken).ConfigureAwait(false);
        return result with { AlreadyRepository = outcome == SaveOutcome.AlreadyExists };
    }
}
