namespace Engine.Provider.Tests;

/// <summary>
/// The Perl plugin (src/perl) under <c>prove</c>: tests/perl/provider.t drives it in PVE's order against the real
/// <c>engine provider</c> process built next to these tests.
/// </summary>
public sealed class PerlPluginTests
{
    [Fact]
    public async Task ProviderScript_PassesUnderProve()
    {
        var root = RepositoryRoot();
        var script = Path.Combine(root, "tests", "perl", "provider.t");
        var result = await Tool.RunAsync("prove", ["-v", "-I", Path.Combine(root, "src", "perl"), "-I", Path.Combine(root, "tests", "perl", "lib"), script,
            "::", "--engine", $"{Tool.Require("dotnet")} {EngineCli.Dll}"], TimeSpan.FromSeconds(180));
        result.AssertSuccess();
        Assert.Contains("All tests successful", result.Stdout, StringComparison.Ordinal);
    }

    internal static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "tests", "perl", "provider.t")))
            {
                return directory.FullName;
            }
        }

        Assert.Fail($"tests/perl/provider.t not found above {AppContext.BaseDirectory}");
        return "";
    }
}
