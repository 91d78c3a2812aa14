using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace Engine.Tests.Shared;

/// <summary>What a finished tool run produced.</summary>
internal sealed record ToolResult(string CommandLine, int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() =>
        $"$ {CommandLine}\nexit code: {ExitCode}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";

    /// <summary>Fails the test, with everything the tool printed, unless it exited 0.</summary>
    public ToolResult AssertSuccess() => AssertExitCode(0);

    public ToolResult AssertExitCode(int expected)
    {
        Assert.True(ExitCode == expected, $"expected exit code {expected}\n{this}");
        return this;
    }

    /// <summary>
    /// Fails the test if the runtime's own words reached stderr instead of ours: a stack trace, an exception type,
    /// "Could not find …", "Access to the path …" or "(Parameter 'x')".
    /// </summary>
    public ToolResult AssertNoRuntimeText()
    {
        foreach (var leak in (string[])["Could not find", "Access to the path", "(Parameter '", "   at ", "Exception"])
        {
            Assert.False(Stderr.Contains(leak, StringComparison.Ordinal), $"runtime text '{leak}' reached the user\n{this}");
        }

        return this;
    }

    /// <summary>Fails the test unless the tool exited with <paramref name="expected"/> and said <paramref name="messagePart"/> on stderr.</summary>
    public ToolResult AssertFailure(int expected, string messagePart)
    {
        AssertExitCode(expected);
        Assert.True(Stderr.Contains(messagePart, StringComparison.OrdinalIgnoreCase), $"expected '{messagePart}' on stderr\n{this}");
        return this;
    }
}

/// <summary>
/// Runs the real client tools: absolute paths under /usr/bin, a hard timeout per call (the whole process tree is
/// killed and the test fails with its stderr), stdout and stderr captured. A missing tool fails the test with the
/// Debian package to install.
/// </summary>
internal static class Tool
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    private static readonly Dictionary<string, string> Packages = new(StringComparer.Ordinal)
    {
        ["nbdinfo"] = "libnbd-bin",
        ["nbdcopy"] = "libnbd-bin",
        ["nbdsh"] = "libnbd-bin",
        ["nbdfuse"] = "nbdfuse",
        ["fusermount3"] = "fuse3",
        ["qemu-img"] = "qemu-utils",
        ["qemu-io"] = "qemu-utils",
        ["python3"] = "python3 (and python3-libnbd)",
        ["nbdkit"] = "nbdkit",
        ["dd"] = "coreutils",
        ["stat"] = "coreutils",
        ["qemu-nbd"] = "qemu-utils",
        ["nbd-server"] = "nbd-server",
        ["cmp"] = "diffutils",
        ["dotnet"] = "dotnet-sdk-10.0",
        ["zstd"] = "zstd",
        ["sha256sum"] = "coreutils",
        ["split"] = "coreutils",
        ["tar"] = "tar",
        ["bash"] = "bash",
        ["unshare"] = "util-linux",
        ["newuidmap"] = "uidmap",
        ["gzip"] = "gzip",
        ["sh"] = "dash",
        ["setfattr"] = "attr",
        ["getfattr"] = "attr",
        ["setfacl"] = "acl",
        ["getfacl"] = "acl",
        ["diff"] = "diffutils",
        ["find"] = "findutils",
        ["du"] = "coreutils",
        ["chown"] = "coreutils",
        ["mknod"] = "coreutils",
        ["mkfifo"] = "coreutils",
        ["truncate"] = "coreutils",
        ["touch"] = "coreutils",
        ["ln"] = "coreutils",
        ["mount"] = "mount",
        ["umount"] = "mount",
        ["prove"] = "perl",
        ["perl"] = "perl-base",
        ["certtool"] = "gnutls-bin",
    };

    /// <summary>The absolute path of a tool; fails the test naming the Debian package if it is not installed.</summary>
    public static string Require(string tool)
    {
        if (tool.StartsWith('/'))
        {
            Assert.True(File.Exists(tool), $"{tool} is not installed");
            return tool;
        }

        var path = "/usr/bin/" + tool;
        if (!File.Exists(path))
        {
            var package = Packages.GetValueOrDefault(tool, "?");
            Assert.Fail($"{path} is missing: install the Debian package {package} (apt-get install {package.Split(' ')[0]})");
        }

        return path;
    }

    public static Task<ToolResult> RunAsync(string tool, params string[] args) => RunAsync(tool, args, DefaultTimeout);

    /// <summary>Runs a tool to its end; <paramref name="stdinFile"/>, when given, is piped to its standard input.</summary>
    public static async Task<ToolResult> RunAsync(string tool, IReadOnlyList<string> args, TimeSpan timeout, string? stdinFile = null)
    {
        using var process = new Process { StartInfo = StartInfo(Require(tool), args) };
        var commandLine = CommandLine(process.StartInfo);
        StartOrFail(process, commandLine);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdinFile is not null)
        {
            await using var input = File.OpenRead(stdinFile);
            try
            {
                await input.CopyToAsync(process.StandardInput.BaseStream);
            }
            catch (IOException)
            {
                // The process stopped reading (it failed early): its exit code tells.
            }
        }

        process.StandardInput.Close();
        using (var cts = new CancellationTokenSource(timeout))
        {
            try
            {
                await process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                KillTree(process);
                Assert.Fail($"timed out after {timeout.TotalSeconds} s (process tree killed): {commandLine}\n" +
                            $"--- stdout ---\n{await Drain(stdout)}\n--- stderr ---\n{await Drain(stderr)}");
            }
        }

        return new ToolResult(commandLine, process.ExitCode, await Drain(stdout), await Drain(stderr));
    }

    /// <summary>Starts a long-running tool (a FUSE daemon, the engine CLI); dispose to kill it if it is still running.</summary>
    public static RunningTool Start(string tool, IReadOnlyList<string> args) => new(StartInfo(Require(tool), args));

    internal static void StartOrFail(Process process, string commandLine)
    {
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            Assert.Fail($"cannot start {commandLine}: {e.Message}");
        }
    }

    internal static void KillTree(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
    }

    internal static string CommandLine(ProcessStartInfo info) =>
        string.Join(' ', new[] { info.FileName }.Concat(info.ArgumentList).Select(a => a.Contains(' ', StringComparison.Ordinal) || a.Length == 0 ? $"'{a}'" : a));

    private static ProcessStartInfo StartInfo(string path, IReadOnlyList<string> args)
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
        info.Environment.Remove("LIBNBD_DEBUG");
        info.Environment["PYTHONDONTWRITEBYTECODE"] = "1";
        return info;
    }

    private static async Task<string> Drain(Task<string> stream)
    {
        try
        {
            return await stream.WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
            return "<output still open after the process exited (a child holds the pipe)>";
        }
    }
}

/// <summary>A tool running in the background, its output collected line by line.</summary>
internal sealed class RunningTool : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly Lock _lock = new();

    internal RunningTool(ProcessStartInfo info)
    {
        _process = new Process { StartInfo = info, EnableRaisingEvents = true };
        CommandLine = Tool.CommandLine(info);
        _process.OutputDataReceived += (_, e) => Append(_stdout, e.Data);
        _process.ErrorDataReceived += (_, e) => Append(_stderr, e.Data);
        Tool.StartOrFail(_process, CommandLine);
        _process.StandardInput.Close();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string CommandLine { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    public string Stdout
    {
        get
        {
            lock (_lock)
            {
                return _stdout.ToString();
            }
        }
    }

    public string Stderr
    {
        get
        {
            lock (_lock)
            {
                return _stderr.ToString();
            }
        }
    }

    public string Describe() => $"$ {CommandLine}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";

    /// <summary>Polls <paramref name="condition"/> until it holds; fails if the process exits first or time runs out.</summary>
    public async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (_process.HasExited)
            {
                await _process.WaitForExitAsync();
                Assert.Fail($"process exited with code {_process.ExitCode} before {what}\n{Describe()}");
            }

            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"timed out after {timeout.TotalSeconds} s waiting for {what}\n{Describe()}");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>Waits for the process to exit and returns its exit code; kills it and fails on timeout.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Tool.KillTree(_process);
            Assert.Fail($"did not exit within {timeout.TotalSeconds} s (killed)\n{Describe()}");
        }

        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            Tool.KillTree(_process);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await _process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                // nothing more we can do
            }
        }

        _process.Dispose();
    }

    private void Append(StringBuilder into, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lock)
        {
            into.Append(line).Append('\n');
        }
    }
}
