namespace Engine.Provider.Tests;

/// <summary>
/// The Perl plugin (src/perl) against an S3 repository in the shared radosgw: tests/perl/provider-s3.t under
/// <c>prove</c> sets the storage's S3 options and credentials file, backs up and restores through the real
/// <c>engine provider</c>, and checks the credentials reach the engine as environment, not on its command line.
/// </summary>
[Collection(CephGateway.Collection)]
public sealed class PerlPluginS3Tests(CephGateway gateway)
{
    [Fact]
    public async Task ProviderS3Script_PassesUnderProve()
    {
        Assert.NotEmpty(gateway.Endpoint);
        var repo = $"s3://{CephGateway.NewBucketName("perl")}/pve";
        (await EngineCli.RunAsync("init", "--repo", repo)).AssertSuccess();

        // The gateway's AWS variables (set by the fixture) reach prove, which moves them into the credentials file.
        var root = PerlPluginTests.RepositoryRoot();
        var result = await Tool.RunAsync("prove", ["-v", "-I", Path.Combine(root, "src", "perl"), "-I", Path.Combine(root, "tests", "perl", "lib"),
            Path.Combine(root, "tests", "perl", "provider-s3.t"), "::", "--engine", $"{Tool.Require("dotnet")} {EngineCli.Dll}", "--repo", repo], TimeSpan.FromSeconds(300));
        result.AssertSuccess();
        Assert.Contains("All tests successful", result.Stdout, StringComparison.Ordinal);
    }
}
