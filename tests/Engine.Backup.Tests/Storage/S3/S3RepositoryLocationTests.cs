using Engine.Backup.S3;

namespace Engine.Backup.Tests.Storage.S3;

public sealed class S3RepositoryLocationTests
{
    [Theory]
    [InlineData("s3://backups", "backups", "", "config")]
    [InlineData("s3://backups/", "backups", "", "config")]
    [InlineData("s3://my.backups-1/pve/cluster-a/", "my.backups-1", "pve/cluster-a", "pve/cluster-a/config")]
    public void Parses_bucket_and_prefix(string url, string bucket, string prefix, string configKey)
    {
        var location = S3RepositoryLocation.Parse(url);

        Assert.Equal(bucket, location.Bucket);
        Assert.Equal(prefix, location.Prefix);
        Assert.Equal(configKey, location.KeyOf("config"));
    }

    [Theory]
    [InlineData("/srv/repo", "is not an S3 repository URL")]
    [InlineData("s3://", "must be 3 to 63 characters")]
    [InlineData("s3://ab", "must be 3 to 63 characters")]
    [InlineData("s3://My_Bucket/x", "may hold only lower-case letters")]
    [InlineData("s3://-bucket/x", "must start and end with a letter or digit")]
    [InlineData("s3://bucket/a//b", "has an empty, '.' or '..' segment")]
    [InlineData("s3://bucket/a/../b", "has an empty, '.' or '..' segment")]
    [InlineData("s3://bucket/a b", "may hold only letters")]
    public void Refuses_what_is_no_valid_location_saying_why(string url, string reason)
    {
        var e = Assert.Throws<FormatException>(() => S3RepositoryLocation.Parse(url));

        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
        Assert.Contains(url, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_come_from_the_standard_variables_and_an_explicit_endpoint_wins()
    {
        var variables = new Dictionary<string, string>
        {
            ["AWS_ACCESS_KEY_ID"] = "ak",
            ["AWS_SECRET_ACCESS_KEY"] = "sk",
            ["AWS_ENDPOINT_URL"] = "http://127.0.0.1:7480",
        };

        var fromVariables = S3StoreOptions.FromEnvironment(null, variables.GetValueOrDefault);
        var explicitEndpoint = S3StoreOptions.FromEnvironment("https://s3.example.org", variables.GetValueOrDefault);

        Assert.Equal(new Uri("http://127.0.0.1:7480"), fromVariables.Endpoint);
        Assert.Equal(("ak", "sk", "us-east-1", true), (fromVariables.AccessKey, fromVariables.SecretKey, fromVariables.Region, fromVariables.ForcePathStyle));
        Assert.Equal(new Uri("https://s3.example.org"), explicitEndpoint.Endpoint);
    }

    [Fact]
    public void Messages_name_the_endpoint_without_the_password_its_url_carries()
    {
        var variables = new Dictionary<string, string> { ["AWS_ACCESS_KEY_ID"] = "ak", ["AWS_SECRET_ACCESS_KEY"] = "sk" };
        var options = S3StoreOptions.FromEnvironment("https://user:hunter2@s3.example.org:8443/", variables.GetValueOrDefault);

        Assert.Equal("https://s3.example.org:8443", options.EndpointText);
    }

    [Fact]
    public void Missing_credentials_are_named()
    {
        var e = Assert.Throws<FormatException>(() => S3StoreOptions.FromEnvironment(null, _ => null));

        Assert.Contains("AWS_ACCESS_KEY_ID is not set", e.Message, StringComparison.Ordinal);
    }
}
