using System.Diagnostics;
using System.Text;

namespace Engine.Backup.Tests.Repository;

/// <summary>What a finished process printed.</summary>
internal sealed record ProcessResult(string CommandLine, int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"$ {CommandLine}\nexit code: {ExitCode}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}

/// <summary>
/// Runs a real program (the engine CLI, zstd, sha256sum) with a hard timeout. A missing program fails the test with
/// the Debian package that provides it.
/// </summary>
internal static class ExternalTool
{
    private static readonly Dictionary<string, string> Packages = new(StringComparer.Ordinal)
    {
        ["/usr/bin/zstd"] = "zstd",
        ["/usr/bin/sha256sum"] = "coreutils",
        ["/usr/bin/dotnet"] = "dotnet-sdk-10.0",
    };

    /// <summary>The engine CLI next to the test assembly.</summary>
    public static string EngineDll
    {
        get
        {
            var path = Path.Combine(AppContext.BaseDirectory, "engine.dll");
            Assert.True(File.Exists(path), $"{path} is missing: the test project must reference src/Engine.Cli");
            return path;
        }
    }

    public static Task<ProcessResult> EngineAsync(params string[] args) => RunAsync("/usr/bin/dotnet", [EngineDll, .. args]);

    public static async Task<ProcessResult> RunAsync(string program, IReadOnlyList<string> args, byte[]? stdin = null)
    {
        if (!File.Exists(program))
        {
            Assert.Fail($"{program} is missing: install the Debian package {Packages.GetValueOrDefault(program, "?")}");
        }

        var info = new ProcessStartInfo(program)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["LC_ALL"] = "C";
        using var process = Process.Start(info)!;
        var commandLine = program + " " + string.Join(' ', args);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.BaseStream.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"timed out after 60 s: {commandLine}");
        }

        return new ProcessResult(commandLine, process.ExitCode, await stdout, await stderr);
    }
}
