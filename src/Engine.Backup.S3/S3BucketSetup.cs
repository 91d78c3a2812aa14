using System.Net;
using Amazon.S3;
using Amazon.S3.Model;
using Engine.Backup.Repository.Storage;

namespace Engine.Backup.S3;

/// <summary>What <see cref="S3BucketSetup.QueryAsync"/> learnt of a bucket.</summary>
/// <param name="Exists">The bucket exists (and the credentials may use it).</param>
/// <param name="ObjectLock">It was created with Object Lock (and so is versioned).</param>
/// <param name="Versioned">Versioning is on (always with Object Lock).</param>
internal readonly record struct S3BucketState(bool Exists, bool ObjectLock, bool Versioned);

/// <summary>Finds out whether a bucket exists and has Object Lock, and creates it.</summary>
internal static class S3BucketSetup
{
    /// <summary>
    /// GetObjectLockConfiguration tells whether the bucket exists (NoSuchBucket) and has Object Lock; a bucket without
    /// it is asked for its versioning too.
    /// </summary>
    public static async Task<S3BucketState> QueryAsync(AmazonS3Client client, S3RepositoryLocation location, S3StoreOptions options, CancellationToken cancellationToken)
    {
        try
        {
            try
            {
                var answer = await client.GetObjectLockConfigurationAsync(new GetObjectLockConfigurationRequest { BucketName = location.Bucket }, cancellationToken).ConfigureAwait(false);
                if (answer.ObjectLockConfiguration?.ObjectLockEnabled == ObjectLockEnabled.Enabled)
                {
                    return new S3BucketState(true, ObjectLock: true, Versioned: true);
                }
            }
            catch (Exception e) when (S3Errors.Status(e) == HttpStatusCode.NotFound && S3Errors.ErrorCode(e) != "NoSuchBucket")
            {
                // ObjectLockConfigurationNotFoundError: a bucket without Object Lock.
            }

            var versioning = await client.GetBucketVersioningAsync(new GetBucketVersioningRequest { BucketName = location.Bucket }, cancellationToken).ConfigureAwait(false);
            return new S3BucketState(true, ObjectLock: false, Versioned: versioning.VersioningConfig?.Status == VersionStatus.Enabled);
        }
        catch (Exception e) when (S3Errors.ErrorCode(e) == "NoSuchBucket")
        {
            return default;
        }
        catch (Exception e) when (S3Errors.IsMappable(e, cancellationToken))
        {
            throw S3Errors.Map(e, location, options, "");
        }
    }

    /// <summary>
    /// Makes sure the bucket exists, with Object Lock when <paramref name="objectLock"/>; true when it was created here.
    /// An existing bucket without Object Lock is refused when a lock is asked for: S3 can only turn Object Lock on for a
    /// bucket at creation (and on versioned buckets later, which gateways such as radosgw do not all allow).
    /// </summary>
    public static async Task<(bool Created, S3BucketState State)> EnsureAsync(AmazonS3Client client, S3RepositoryLocation location, S3StoreOptions options, bool objectLock, CancellationToken cancellationToken)
    {
        var state = await QueryAsync(client, location, options, cancellationToken).ConfigureAwait(false);
        var created = false;
        if (!state.Exists)
        {
            try
            {
                await client.PutBucketAsync(new PutBucketRequest { BucketName = location.Bucket, ObjectLockEnabledForBucket = objectLock }, cancellationToken).ConfigureAwait(false);
                created = true;
            }
            catch (Exception e) when (S3Errors.ErrorCode(e) is "BucketAlreadyOwnedByYou")
            {
                // Another init created it meanwhile; its state is asked again below.
            }
            catch (Exception e) when (S3Errors.IsMappable(e, cancellationToken))
            {
                throw S3Errors.Map(e, location, options, "");
            }

            state = await QueryAsync(client, location, options, cancellationToken).ConfigureAwait(false);
        }

        if (objectLock && !state.ObjectLock)
        {
            throw new ObjectStoreException(location.ToString(), "",
                $"bucket {location.Bucket} exists without Object Lock, so its objects cannot be retained; a retention needs a bucket created with Object Lock (give a new bucket name and engine init creates it)");
        }

        return (created, state);
    }
}
