namespace Engine.Samples.Tests;

/// <summary>
/// The sample behind Engine's Perl plugin (src/perl) under <c>prove</c>: tests/perl/sample-provider.t sets the
/// storage's <c>engine-command</c> to the sample and drives it in qemu-server's and vzdump's order with the same
/// replay as Engine's own provider.t (tests/perl/lib/PveReplay.pm): nbd and file-handle, bitmaps new then use,
/// byte-exact restores, a container through its fresh process and the tar mechanism.
/// </summary>
[Collection(SampleCollection.Name)]
public sealed class PerlPluginTests(SampleProviderFixture sample)
{
    [Fact]
    public async Task SampleProviderScript_PassesUnderProve()
    {
        var root = SampleProviderFixture.RepositoryRoot();
        var result = await Tool.RunAsync("prove", ["-v", "-I", Path.Combine(root, "src", "perl"), "-I", Path.Combine(root, "tests", "perl", "lib"),
            Path.Combine(root, "tests", "perl", "sample-provider.t"), "::", "--engine", string.Join(' ', sample.Command)], TimeSpan.FromSeconds(180));
        result.AssertSuccess();
        Assert.Contains("All tests successful", result.Stdout, StringComparison.Ordinal);
    }
}
