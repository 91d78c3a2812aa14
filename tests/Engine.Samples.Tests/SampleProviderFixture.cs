using System.Diagnostics;
using System.Globalization;

namespace Engine.Samples.Tests;

/// <summary>
/// Packs Engine's libraries into a fresh folder feed and builds samples/ImageFilesProvider against it, once per test
/// run, as a vendor would: the sample is copied out of the repository (so no Engine build file applies) and restores
/// the packages by PackageReference. The version is unique per run and the packages go to a private folder, so a
/// package cached by an earlier run can never stand in for today's code.
/// </summary>
public sealed class SampleProviderFixture : IAsyncLifetime, IDisposable
{
    /// <summary>
    /// The packages the sample needs, in dependency order: Engine.Provider and what it stands on, never Engine.Backup.
    /// </summary>
    private static readonly string[] Packages = ["Engine.Blocks", "Engine.Nbd", "Engine.Sources", "Engine.Provider"];

    // Generous: a loaded machine compiles slowly, and a pack that times out says nothing about the sample.
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(10);

    private readonly TempDir _work = new();

    /// <summary>The sample provider as a command: <c>dotnet ImageFilesProvider.dll</c>.</summary>
    public IReadOnlyList<string> Command { get; private set; } = [];

    /// <summary>The package version this run packed and built with.</summary>
    public string Version { get; } = "1.0.0-test." + DateTime.UtcNow.ToString("yyyyMMddHHmmssfff", CultureInfo.InvariantCulture);

    /// <summary>How long packing and building took, for the test log.</summary>
    public string Timings { get; private set; } = "";

    public async Task InitializeAsync()
    {
        var root = RepositoryRoot();
        var feed = _work["feed"];
        var clock = Stopwatch.StartNew();

        // Build once from the current sources, then pack each project without building again: a pack of one project
        // does not pack what it references, and per-project builds would repeat the dependency checks.
        (await Tool.RunAsync("dotnet", ["build", Path.Combine(root, "src", "Engine.Provider"), "-c", "Release", "-nologo"], BuildTimeout)).AssertSuccess();
        foreach (var package in Packages)
        {
            (await Tool.RunAsync("dotnet", ["pack", Path.Combine(root, "src", package), "-c", "Release", "--no-build", "-nologo", "-o", feed, $"-p:Version={Version}"], BuildTimeout))
                .AssertSuccess();
            Assert.True(File.Exists(Path.Combine(feed, $"{package}.{Version}.nupkg")), $"dotnet pack made no {package}.{Version}.nupkg in {feed}");
        }

        var packed = clock.Elapsed;
        var samples = _work["samples"];
        CopyTree(Path.Combine(root, "samples"), samples);
        await File.WriteAllTextAsync(Path.Combine(samples, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config>
                <add key="globalPackagesFolder" value="{_work["packages"]}" />
              </config>
              <packageSources>
                <clear />
                <add key="engine-test" value="{feed}" />
              </packageSources>
              <!-- Third-party packages come from the machine's cache; Engine's unique version is only in the feed. -->
              <fallbackPackageFolders>
                <add key="machine" value="{MachinePackageFolder()}" />
              </fallbackPackageFolders>
            </configuration>
            """);
        var output = _work["out"];
        (await Tool.RunAsync("dotnet", ["build", Path.Combine(samples, "ImageFilesProvider"), "-c", "Release", "-nologo", "-o", output, $"-p:EnginePackageVersion={Version}"], BuildTimeout))
            .AssertSuccess();
        foreach (var package in Packages)
        {
            Assert.True(Directory.Exists(Path.Combine(_work["packages"], package.ToLowerInvariant(), Version)), $"{package} {Version} was not restored from the feed");
        }

        Command = [Tool.Require("dotnet"), Path.Combine(output, "ImageFilesProvider.dll")];
        Timings = string.Create(CultureInfo.InvariantCulture, $"pack {packed.TotalSeconds:F1} s, sample build {(clock.Elapsed - packed).TotalSeconds:F1} s");
    }

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose() => _work.Dispose();

    /// <summary>The repository checkout these tests were built in (the directory holding Engine.sln).</summary>
    public static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Engine.sln")))
            {
                return directory.FullName;
            }
        }

        Assert.Fail($"Engine.sln not found above {AppContext.BaseDirectory}");
        return "";
    }

    private static string MachinePackageFolder() =>
        Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } folder
            ? folder
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");

    /// <summary>Copies the sample's sources: no build output, no local feed.</summary>
    private static void CopyTree(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }

        foreach (var directory in Directory.EnumerateDirectories(from))
        {
            if (Path.GetFileName(directory) is not ("bin" or "obj" or "feed"))
            {
                CopyTree(directory, Path.Combine(to, Path.GetFileName(directory)));
            }
        }
    }
}
