using Engine.Backup.Repository.Storage;
using Engine.Backup.S3;

namespace Engine.Backup.Tests.Storage.S3;

/// <summary>Failures name the bucket and key and say whether a retry can help.</summary>
[Collection(CephGateway.Collection)]
public sealed class S3ErrorTests(CephGateway gateway)
{
    private static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task Opening_a_missing_bucket_names_it()
    {
        var location = S3RepositoryLocation.Parse($"s3://{CephGateway.NewBucketName("missing")}/repo");

        var e = await Assert.ThrowsAsync<ObjectStoreException>(() => S3ObjectStore.OpenAsync(location, S3Stores.Options(gateway), None));

        Assert.Contains($"bucket {location.Bucket} does not exist", e.Message, StringComparison.Ordinal);
        Assert.False(e.IsTransient);
    }

    [Fact]
    public async Task A_save_into_a_bucket_that_went_away_names_bucket_and_key()
    {
        await using var store = await S3Stores.CreateAsync(gateway, purpose: "gone");
        using (var client = new Amazon.S3.AmazonS3Client(gateway.AccessKey, gateway.SecretKey, new Amazon.S3.AmazonS3Config { ServiceURL = gateway.Endpoint, ForcePathStyle = true }))
        {
            await client.DeleteObjectAsync(store.Repository.Bucket, store.Repository.KeyOf("config"));
            await client.DeleteBucketAsync(store.Repository.Bucket);
        }

        var name = S3Stores.Chunk(21);
        var e = await Assert.ThrowsAsync<ObjectStoreException>(async () => await store.SaveAsync(name, new byte[1], default, None));

        Assert.Contains($"bucket {store.Repository.Bucket} does not exist", e.Message, StringComparison.Ordinal);
        Assert.Contains($"s3://{store.Repository.Bucket}/repo/{name.Key}", e.Message, StringComparison.Ordinal);
        Assert.False(e.IsTransient);
    }

    [Fact]
    public async Task A_wrong_secret_key_is_access_denied_naming_bucket_and_key_and_not_transient()
    {
        await using var good = await S3Stores.CreateAsync(gateway, purpose: "creds");
        var location = good.Repository;
        var bad = S3Stores.Options(gateway, secretKey: "not-the-secret-key-at-all");

        var open = await Assert.ThrowsAsync<ObjectStoreException>(() => S3ObjectStore.OpenAsync(location, bad, None));
        Assert.Contains($"access denied to bucket {location.Bucket}", open.Message, StringComparison.Ordinal);
        Assert.Contains("AWS_SECRET_ACCESS_KEY", open.Message, StringComparison.Ordinal);
        Assert.False(open.IsTransient);
    }

    [Fact]
    public async Task Saves_and_loads_with_a_wrong_secret_key_name_bucket_and_key()
    {
        await using var good = await S3Stores.CreateAsync(gateway, purpose: "badkey");
        var bad = S3Stores.Options(gateway, secretKey: "not-the-secret-key-at-all");
        await using var store = S3ObjectStore.Wrap(S3ClientFactory.Create(bad), good.Repository, bad, new S3BucketState(Exists: true, ObjectLock: false, Versioned: false));
        var name = S3Stores.Chunk(22);

        var save = await Assert.ThrowsAsync<ObjectStoreException>(async () => await store.SaveAsync(name, new byte[1], default, None));
        var load = await Assert.ThrowsAsync<ObjectStoreException>(async () => await store.LoadAsync(name, 0, new byte[1], None));

        // radosgw usually answers 403 SignatureDoesNotMatch ("access denied to bucket B, key K"), but a PUT run beside
        // other tests has also been answered 400 with no error code; either way the message names bucket and key.
        foreach (var e in (ObjectStoreException[])[save, load])
        {
            Assert.True(e.Message.Contains($"bucket {good.Repository.Bucket}, key {name.Key}", StringComparison.Ordinal), e.ToString());
            Assert.Contains($"s3://{good.Repository.Bucket}/repo/{name.Key}", e.Message, StringComparison.Ordinal);
            Assert.False(e.IsTransient, e.Message);
        }
    }

    [Fact]
    public async Task An_unknown_access_key_is_access_denied_naming_the_variable()
    {
        var location = S3RepositoryLocation.Parse($"s3://{CephGateway.NewBucketName("who")}");
        var options = new S3StoreOptions { Endpoint = new Uri(gateway.Endpoint), AccessKey = "nobody", SecretKey = "nothing" };

        var e = await Assert.ThrowsAsync<ObjectStoreException>(() => S3ObjectStore.OpenAsync(location, options, None));

        Assert.Contains($"access denied to bucket {location.Bucket}", e.Message, StringComparison.Ordinal);
        Assert.Contains("AWS_ACCESS_KEY_ID", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_gateway_that_is_not_there_is_a_transient_failure_naming_the_endpoint()
    {
        var endpoint = $"http://127.0.0.1:{CephGateway.FreePort()}";
        var location = S3RepositoryLocation.Parse("s3://engine-down/repo");

        var e = await Assert.ThrowsAsync<ObjectStoreException>(() => S3ObjectStore.OpenAsync(location, S3Stores.Options(gateway, endpoint), None));

        Assert.True(e.IsTransient, e.Message);
        Assert.Contains(endpoint, e.Message, StringComparison.Ordinal);
        Assert.Contains("connection refused", e.Message, StringComparison.Ordinal);
        Assert.Contains("s3://engine-down/repo", e.Message, StringComparison.Ordinal);
    }
}
