using System.Globalization;

namespace Engine.Interop.Tests.Cli;

/// <summary>
/// The promise docs/cli.md ("Exit codes and errors") makes for every command: 64 for any usage error, help and
/// errors on stderr only (so a script reading <c>--json</c> never parses help text), and no .NET text (stack traces,
/// type names, "(Parameter 'x')") for anything.
/// </summary>
public sealed class ExitCodeTests
{
    [Theory]
    [InlineData("", "engine: ")]                                   // no command at all
    [InlineData("bogus", "engine: ")]                              // unknown command
    [InlineData("ova", "engine ova: ")]                            // a command group without its subcommand
    [InlineData("info --bogus", "engine info: ")]                  // unknown option, taken for the URI by the parser
    [InlineData("info --bogus nbd://127.0.0.1/", "engine info: ")] // unknown option beside the argument
    [InlineData("info", "engine info: ")]                          // missing argument
    [InlineData("info --json", "engine info: ")]
    [InlineData("backup", "engine backup: ")]                      // missing required options
    [InlineData("backup --json", "engine backup: ")]
    [InlineData("restore --repo X", "engine restore: ")]
    [InlineData("ova import", "engine ova import: ")]
    [InlineData("provider", "engine provider: ")]
    [InlineData("serve --listen", "engine serve: ")]               // an option without its value
    [InlineData("copy --connections abc a b", "engine copy: ")]    // a value of the wrong type
    [InlineData("provider --repo r --mechanism scsi", "engine provider: ")] // a value outside its choices
    [InlineData("provider --repo r --fd-channel -3", "engine provider: ")]  // a value its command refuses
    public async Task UsageError_Exits64_WithTheErrorOnStderrAndNothingOnStdout(string args, string prefix)
    {
        var result = await EngineCli.RunAsync(args.Split(' ', StringSplitOptions.RemoveEmptyEntries));

        result.AssertExitCode(64);
        Assert.True(result.Stdout.Length == 0, $"usage errors print nothing on stdout\n{result}");
        var lines = StderrLines(result);
        Assert.True(lines.Length >= 2, $"expected the error(s) and where to find the usage\n{result}");
        Assert.All(lines[..^1], line => Assert.StartsWith(prefix, line, StringComparison.Ordinal));
        Assert.Equal($"Run '{prefix.TrimEnd(' ', ':')} --help' for usage.", lines[^1]);
        AssertNoDotnetText(result);
    }

    [Fact]
    public async Task WrongValueType_IsNamedInWordsNotDotnetTypes()
    {
        var result = await EngineCli.RunAsync("copy", "--connections", "abc", "a", "b");

        result.AssertFailure(64, "engine copy: Cannot parse argument 'abc' for option '--connections' as an integer.");
    }

    [Fact]
    public async Task ValueOutsideItsChoices_ListsThemOnOneLine()
    {
        var result = await EngineCli.RunAsync("provider", "--repo", "r", "--mechanism", "scsi");

        result.AssertFailure(64, "engine provider: Argument 'scsi' not recognized. Must be one of: 'nbd', 'file-handle'\n");
    }

    [Fact]
    public async Task ProviderWithEmptyRepo_IsAUsageError()
    {
        var result = await EngineCli.RunAsync("provider", "--repo", "");

        result.AssertFailure(64, "engine provider: --repo needs a value, not an empty string\n");
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("backup --help")]
    [InlineData("ova import --help")]
    [InlineData("--version")]
    public async Task HelpAndVersion_WinOverMissingOptions_AndExitZero(string args)
    {
        var result = (await EngineCli.RunAsync(args.Split(' '))).AssertSuccess();

        Assert.True(result.Stdout.Length > 0, result.ToString());
        Assert.True(result.Stderr.Length == 0, result.ToString());
    }

    /// <summary>
    /// An empty value for something that names a repository, file, URI or snapshot is a usage error named by its
    /// option (before, it reached the code as .NET's "The value cannot be an empty string", or a stack trace).
    /// </summary>
    [Theory]
    [InlineData("--repo", "snapshots --json --repo")]
    [InlineData("--repo", "verify --repo")]
    [InlineData("--repo", "gc --repo")]
    [InlineData("--to", "restore --repo /r --snapshot vm/1/2026-01-01T00:00:00Z --disk d --to")]
    [InlineData("DST", "copy null: --")]
    [InlineData("URI", "info --")]
    [InlineData("FILE", "serve --")]
    public async Task EmptyValue_IsAUsageError_NamingTheOption(string name, string args)
    {
        var result = await EngineCli.RunAsync([.. args.Split(' '), ""]);

        result.AssertExitCode(64);
        Assert.True(result.Stdout.Length == 0, result.ToString());
        Assert.Contains($"{name} needs a value, not an empty string", result.Stderr, StringComparison.Ordinal);
        AssertNoDotnetText(result);
    }

    /// <summary>A missing file the user named is said in our words, naming it (was .NET's "Could not find file '…'.").</summary>
    [Theory]
    [InlineData("backup --repo {0}/repo --vmid 1 --disk scsi0=memory:1M --config {0}/missing.conf")]
    [InlineData("backup-ct --repo {0}/repo --vmid 1 --dir {0} --config {0}/missing.conf")]
    public async Task MissingFileNamedByTheUser_IsNamed_InOurWords(string args)
    {
        using var dir = new TempDir();
        var result = await EngineCli.RunAsync(string.Format(CultureInfo.InvariantCulture, args, dir.Path).Split(' '));

        result.AssertFailure(66, $"{dir.Path}/missing.conf: no such file");
        AssertNoDotnetText(result);
    }

    /// <summary>With --json, a failure still goes to stderr with its exit code, and stdout stays empty.</summary>
    [Theory]
    [InlineData(66, "snapshots --json --repo /nonexistent/engine-repo")]
    [InlineData(66, "verify --json --repo /nonexistent/engine-repo")]
    [InlineData(66, "copy --json /nonexistent/engine-disk null:")]
    [InlineData(66, "forget --json --repo /nonexistent/engine-repo vm/1/2026-01-01T00:00:00Z")]
    [InlineData(64, "prune --json --repo /nonexistent/engine-repo --keep-daily x")]
    public async Task JsonCommandThatFails_WritesOnlyStderr(int exitCode, string args)
    {
        var result = await EngineCli.RunAsync(args.Split(' '));

        result.AssertExitCode(exitCode);
        Assert.True(result.Stdout.Length == 0, $"a failed --json command printed on stdout\n{result}");
        Assert.True(result.Stderr.Length > 0, result.ToString());
        AssertNoDotnetText(result);
    }

    private static string[] StderrLines(ToolResult result)
    {
        var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.True(lines.Length > 0, $"nothing on stderr\n{result}");
        return lines;
    }

    private static void AssertNoDotnetText(ToolResult result)
    {
        result.AssertNoRuntimeText();
        foreach (var marker in new[] { "System.", "Description:", "Usage:" })
        {
            Assert.False(result.Stderr.Contains(marker, StringComparison.Ordinal), $"'{marker}' reached the user\n{result}");
        }
    }
}
