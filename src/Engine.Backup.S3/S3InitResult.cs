namespace Engine.Backup.S3;

/// <summary>What <see cref="S3Repository.InitializeAsync"/> did.</summary>
/// <param name="Location">The repository (<c>s3://BUCKET/PREFIX</c>).</param>
/// <param name="Endpoint">The S3 endpoint it is on.</param>
/// <param name="BucketCreated">The bucket was missing and has been created.</param>
/// <param name="ObjectLock">The bucket has Object Lock.</param>
/// <param name="AlreadyRepository">A repository configuration was already there: nothing was written.</param>
public sealed record S3InitResult(string Location, string Endpoint, bool BucketCreated, bool ObjectLock, bool AlreadyRepository);
