namespace Engine.Architecture.Tests;

/// <summary>
/// The checkout the tests run in: found by walking up from the test assembly to the folder holding Engine.sln, so
/// the rules read the sources and project files the build just compiled.
/// </summary>
internal static class SourceTree
{
    public static string Root { get; } = FindRoot();

    public static string Src => Path.Combine(Root, "src");

    /// <summary>The path relative to the checkout, with '/' separators, as messages and the tables spell it.</summary>
    public static string Relative(string path) => Path.GetRelativePath(Root, path).Replace('\\', '/');

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Engine.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no Engine.sln above {AppContext.BaseDirectory}");
    }
}
