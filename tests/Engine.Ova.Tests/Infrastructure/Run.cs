using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace Engine.Ova.Tests.Infrastructure;

/// <summary>What a process printed and returned.</summary>
internal sealed record RunResult(string CommandLine, int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"$ {CommandLine}\nexit code: {ExitCode}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";

    public RunResult Succeeded()
    {
        Assert.True(ExitCode == 0, $"expected success\n{this}");
        return this;
    }

    public RunResult Failed(int exitCode, string messagePart)
    {
        Assert.True(ExitCode == exitCode, $"expected exit code {exitCode}\n{this}");
        Assert.True(Stderr.Contains(messagePart, StringComparison.OrdinalIgnoreCase), $"expected '{messagePart}' on stderr\n{this}");
        return this;
    }
}

/// <summary>
/// Runs Debian tools (absolute paths, a timeout that kills the tree) and the engine CLI. A missing tool fails the test
/// with the package to install.
/// </summary>
internal static class Run
{
    private static readonly Dictionary<string, string> Packages = new(StringComparer.Ordinal)
    {
        ["qemu-img"] = "qemu-utils",
        ["tar"] = "tar",
        ["gzip"] = "gzip",
        ["split"] = "coreutils",
        ["nbdinfo"] = "libnbd-bin",
        ["nbdkit"] = "nbdkit",
        ["dotnet"] = "the .NET SDK",
        ["sh"] = "dash",
    };

    public static string EngineDll
    {
        get
        {
            var path = Path.Combine(AppContext.BaseDirectory, "engine.dll");
            Assert.True(File.Exists(path), $"{path} is missing: the test project must reference src/Engine.Cli");
            return path;
        }
    }

    public static string Require(string tool)
    {
        var path = tool == "dotnet" ? "/usr/bin/dotnet" : "/usr/bin/" + tool;
        if (!File.Exists(path))
        {
            Assert.Fail($"{path} is missing: install the Debian package {Packages.GetValueOrDefault(tool, tool)}");
        }

        return path;
    }

    public static Task<RunResult> ToolAsync(string tool, params string[] args) => ProcessAsync(Require(tool), args, null, TimeSpan.FromSeconds(120));

    /// <summary>Runs <c>engine ARGS</c>; <paramref name="stdinFile"/> is piped to its standard input.</summary>
    public static Task<RunResult> EngineAsync(string[] args, string? stdinFile = null) =>
        ProcessAsync(Require("dotnet"), [EngineDll, .. args], stdinFile, TimeSpan.FromSeconds(120));

    public static Process StartEngine(params string[] args)
    {
        var info = Info(Require("dotnet"), [EngineDll, .. args]);
        var process = Process.Start(info) ?? throw new InvalidOperationException("cannot start engine");
        process.StandardInput.Close();
        return process;
    }

    private static async Task<RunResult> ProcessAsync(string path, string[] args, string? stdinFile, TimeSpan timeout)
    {
        var info = Info(path, args);
        var commandLine = string.Join(' ', [path, .. args]);
        using var process = new Process { StartInfo = info };
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            Assert.Fail($"cannot start {commandLine}: {e.Message}");
        }

        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdinFile is not null)
        {
            await using (var input = File.OpenRead(stdinFile))
            {
                try
                {
                    await input.CopyToAsync(process.StandardInput.BaseStream);
                }
                catch (IOException)
                {
                    // The process stopped reading (it failed early): its exit code tells.
                }
            }
        }

        process.StandardInput.Close();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"timed out after {timeout.TotalSeconds} s: {commandLine}");
        }

        return new RunResult(commandLine, process.ExitCode, await stdout, await stderr);
    }

    private static ProcessStartInfo Info(string path, string[] args)
    {
        var info = new ProcessStartInfo(path)
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
        return info;
    }
}
