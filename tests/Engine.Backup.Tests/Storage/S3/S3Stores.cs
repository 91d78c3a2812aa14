using Engine.Backup.Repository.Storage;
using Engine.Backup.S3;

namespace Engine.Backup.Tests.Storage.S3;

/// <summary>
/// Stores on the shared <see cref="CephGateway"/>, each in a bucket of its own. The one place that knows how to make
/// one: a later <c>S3ObjectStoreTests : ObjectStoreContract</c> overrides the contract's factory with <see cref="CreateAsync"/>.
/// </summary>
internal static class S3Stores
{
    public static S3StoreOptions Options(CephGateway gateway, string? endpoint = null, string? secretKey = null) => new()
    {
        Endpoint = new Uri(endpoint ?? gateway.Endpoint),
        AccessKey = gateway.AccessKey,
        SecretKey = secretKey ?? gateway.SecretKey,
        RequestTimeout = TimeSpan.FromSeconds(30),
        ConnectTimeout = TimeSpan.FromSeconds(5),
    };

    /// <summary>A fresh bucket (with Object Lock when <paramref name="retention"/> is given) holding an initialised repository under a prefix.</summary>
    public static async Task<S3ObjectStore> CreateAsync(CephGateway gateway, S3RetentionSettings? retention = null, string purpose = "store")
    {
        var location = S3RepositoryLocation.Parse($"s3://{CephGateway.NewBucketName(purpose)}/repo");
        var init = await S3Repository.InitializeAsync(location, Options(gateway), retention, CancellationToken.None);
        Assert.True(init.BucketCreated, $"{location}: bucket not created");
        return await S3ObjectStore.OpenAsync(location, Options(gateway), CancellationToken.None);
    }

    /// <summary>A second store on <paramref name="location"/> (another client, as another process would open it).</summary>
    public static Task<S3ObjectStore> OpenAsync(CephGateway gateway, S3RepositoryLocation location) =>
        S3ObjectStore.OpenAsync(location, Options(gateway), CancellationToken.None);

    /// <summary>Puts <paramref name="content"/> at <paramref name="key"/> below the store's prefix with a plain client, bypassing the store.</summary>
    public static async Task PutRawAsync(CephGateway gateway, S3ObjectStore store, string key, byte[] content)
    {
        using var client = S3ClientFactory.Create(Options(gateway));
        await client.PutObjectAsync(new Amazon.S3.Model.PutObjectRequest
        {
            BucketName = store.Repository.Bucket,
            Key = store.Repository.KeyOf(key),
            InputStream = new MemoryStream(content),
            UseChunkEncoding = false,
        });
    }

    /// <summary>A chunk name: 64 hex digits from <paramref name="seed"/>.</summary>
    public static ObjectName Chunk(int seed) =>
        new(ObjectKind.Chunk, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(BitConverter.GetBytes(seed))));

    public static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
