using System.Diagnostics;
using System.Text;

namespace Engine.Provider.Tests.Infrastructure;

/// <summary>What a finished process printed.</summary>
internal sealed record ToolResult(string CommandLine, int ExitCode, string Stdout, string Stderr)
{
    public ToolResult AssertSuccess()
    {
        Assert.True(ExitCode == 0, $"$ {CommandLine}\nexit code {ExitCode}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}");
        return this;
    }
}

/// <summary>Runs the real Debian tools with a timeout; a missing one fails the test naming its package.</summary>
internal static class Tool
{
    private static readonly Dictionary<string, string> Packages = new(StringComparer.Ordinal)
    {
        ["qemu-img"] = "qemu-utils",
        ["qemu-io"] = "qemu-utils",
        ["qemu-nbd"] = "qemu-utils",
        ["nbdinfo"] = "libnbd-bin",
        ["nbdfuse"] = "nbdfuse",
        ["fusermount3"] = "fuse3",
        ["dotnet"] = "dotnet-sdk-10.0",
    };

    public static string Path(string name)
    {
        var path = "/usr/bin/" + name;
        Assert.True(File.Exists(path), $"{path} is missing: install the Debian package {Packages.GetValueOrDefault(name, name)}");
        return path;
    }

    public static async Task<ToolResult> RunAsync(string name, params string[] args)
    {
        var info = new ProcessStartInfo(Path(name))
        {
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
        var commandLine = name + " " + string.Join(' ', args);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
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

        return new ToolResult(commandLine, process.ExitCode, await stdout, await stderr);
    }
}
