using System.Text.Json;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Storage;
using Engine.Backup.S3;

namespace Engine.Backup.Tests.Storage.S3;

/// <summary><c>engine init</c> as a process, for an S3 bucket on radosgw (credentials from the AWS variables the gateway fixture exports) and for a directory.</summary>
[Collection(CephGateway.Collection)]
public sealed class S3InitCommandTests(CephGateway gateway)
{
    [Fact]
    public async Task Init_s3_with_retention_creates_the_bucket_with_object_lock_and_a_second_init_is_refused()
    {
        var repo = $"s3://{CephGateway.NewBucketName("init")}/pve";

        var first = (await EngineCli.RunAsync("init", "--repo", repo, "--retain-days", "3", "--s3-endpoint", gateway.Endpoint, "--json")).AssertSuccess();

        using (var document = JsonDocument.Parse(first.Stdout))
        {
            var root = document.RootElement;
            Assert.Equal(repo, root.GetProperty("repository").GetString());
            Assert.True(root.GetProperty("bucket_created").GetBoolean());
            Assert.Equal(3, root.GetProperty("retain_days").GetInt32());
            Assert.Equal("compliance", root.GetProperty("lock_mode").GetString());
        }

        await using (var store = await S3ObjectStore.OpenAsync(S3RepositoryLocation.Parse(repo), S3Stores.Options(gateway), CancellationToken.None))
        {
            Assert.True(store.Capabilities.HasFlag(ObjectStoreCapabilities.ObjectLock), "the bucket has no Object Lock");
            var config = new byte[4096];
            var length = await store.LoadAsync(ObjectName.Config, 0, config, CancellationToken.None);
            using var document = JsonDocument.Parse(config.AsMemory(0, length));
            Assert.Equal(1, document.RootElement.GetProperty("format").GetInt32());
            Assert.Equal(3, document.RootElement.GetProperty("retainDays").GetInt32());
            Assert.Equal("Compliance", document.RootElement.GetProperty("lockMode").GetString());
            Assert.Equal(new RepositoryOptions().ChunkSize, document.RootElement.GetProperty("chunkSize").GetInt32());
        }

        (await EngineCli.RunAsync("init", "--repo", repo)).AssertFailure(1, $"{repo} is already a repository").AssertNoRuntimeText();
    }

    [Fact]
    public async Task Init_s3_without_retention_takes_the_endpoint_from_AWS_ENDPOINT_URL()
    {
        var bucket = CephGateway.NewBucketName("plain");
        var repo = $"s3://{bucket}";

        var result = (await EngineCli.RunAsync("init", "--repo", repo)).AssertSuccess();

        Assert.Contains($"created repository {repo} at {gateway.Endpoint}", result.Stdout, StringComparison.Ordinal);
        Assert.Contains($"bucket {bucket} created", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Init_s3_against_a_dead_endpoint_fails_as_unavailable_naming_it()
    {
        var endpoint = $"http://127.0.0.1:{CephGateway.FreePort()}";

        var result = await EngineCli.RunAsync("init", "--repo", "s3://engine-dead/x", "--s3-endpoint", endpoint);

        result.AssertFailure(69, $"cannot reach the S3 endpoint {endpoint} (connection refused)").AssertNoRuntimeText();
    }

    [Fact]
    public async Task Init_with_a_bad_bucket_name_is_a_usage_error()
    {
        (await EngineCli.RunAsync("init", "--repo", "s3://Bad_Bucket/x")).AssertFailure(64, "bucket name 'Bad_Bucket'").AssertNoRuntimeText();
    }

    [Fact]
    public async Task Init_of_a_directory_creates_a_repository_and_a_second_init_is_refused()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];

        var first = (await EngineCli.RunAsync("init", "--repo", repo)).AssertSuccess();

        Assert.Contains($"created repository {repo}", first.Stdout, StringComparison.Ordinal);
        using (var repository = BackupRepository.Open(repo, create: false))
        {
            Assert.Empty(repository.ListSnapshots());
        }

        (await EngineCli.RunAsync("init", "--repo", repo)).AssertFailure(1, $"{repo} is already a repository").AssertNoRuntimeText();
    }

    [Fact]
    public async Task Init_of_a_directory_refuses_retention()
    {
        using var dir = new TempDir();

        (await EngineCli.RunAsync("init", "--repo", dir["repo"], "--retain-days", "5")).AssertFailure(64, "apply to s3:// repositories only");
        Assert.False(Directory.Exists(dir["repo"]));
    }
}
