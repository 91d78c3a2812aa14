namespace Engine.Tests.Shared;

/// <summary>The <c>engine</c> CLI as a separate process: <c>dotnet engine.dll</c> from the test's output directory.</summary>
internal static class EngineCli
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    /// <summary>The CLI next to the test assembly (the test project references src/Engine.Cli).</summary>
    public static string Dll
    {
        get
        {
            var path = Path.Combine(AppContext.BaseDirectory, "engine.dll");
            Assert.True(File.Exists(path), $"{path} is missing: the test project must reference src/Engine.Cli");
            return path;
        }
    }

    public static Task<ToolResult> RunAsync(params string[] args) => Tool.RunAsync("dotnet", [Dll, .. args], Timeout);

    /// <summary>Runs <c>engine ARGS</c> with <paramref name="stdinFile"/> piped to its standard input.</summary>
    public static Task<ToolResult> RunAsync(string[] args, string? stdinFile) => Tool.RunAsync("dotnet", [Dll, .. args], Timeout, stdinFile);

    /// <summary>Starts a long-running command (serve, export); dispose to kill it if it is still running.</summary>
    public static RunningTool Start(params string[] args) => Tool.Start("dotnet", [Dll, .. args]);
}
