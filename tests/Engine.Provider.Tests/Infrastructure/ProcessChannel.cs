using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;

namespace Engine.Provider.Tests.Infrastructure;

/// <summary><c>dotnet engine.dll provider --repo DIR</c> as a child process, spoken to over stdin/stdout.</summary>
internal sealed class ProcessChannel : IProviderChannel
{
    private readonly Process _process;
    private readonly StringBuilder _stderr = new();
    private readonly List<(string, string)> _logs = [];
    private long _nextId;

    private ProcessChannel(Process process, string repositoryPath)
    {
        _process = process;
        RepositoryPath = repositoryPath;
    }

    public string RepositoryPath { get; }

    public IReadOnlyList<(string Level, string Message)> Logs => _logs;

    public static ProcessChannel Start(string repositoryPath)
    {
        var engine = System.IO.Path.Combine(AppContext.BaseDirectory, "engine.dll");
        Assert.True(File.Exists(engine), $"{engine} is missing: the test project must reference src/Engine.Cli");
        var info = new ProcessStartInfo(Tool.Require("dotnet"))
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardInputEncoding = new UTF8Encoding(false),
        };
        foreach (var arg in (string[])[engine, "provider", "--repo", repositoryPath])
        {
            info.ArgumentList.Add(arg);
        }

        var channel = new ProcessChannel(Process.Start(info)!, repositoryPath);
        channel._process.ErrorDataReceived += (_, e) =>
        {
            lock (channel._stderr)
            {
                channel._stderr.AppendLine(e.Data);
            }
        };
        channel._process.BeginErrorReadLine();
        return channel;
    }

    public async Task<JsonNode?> CallAsync(string method, JsonObject? parameters = null)
    {
        var id = await SendAsync(method, parameters);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            string? line;
            try
            {
                line = await _process.StandardOutput.ReadLineAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"{method}: no response within 60 s; stderr: {Stderr}");
                throw;
            }

            Assert.True(line is not null, $"{method}: the provider process ended; stderr: {Stderr}");
            if (ResponseLines.TryTake(line, id, _logs, out var response))
            {
                return ResponseLines.Result(method, response!);
            }
        }
    }

    /// <summary>Writes a request without waiting for its response; returns its id.</summary>
    public async Task<long> SendAsync(string method, JsonObject? parameters = null)
    {
        var id = ++_nextId;
        var request = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters ?? [] };
        await _process.StandardInput.WriteLineAsync(request.ToJsonString());
        await _process.StandardInput.FlushAsync();
        return id;
    }

    /// <summary>SIGKILL, as when vzdump's worker is killed: no cleanup call follows.</summary>
    public async Task KillAsync()
    {
        Assert.False(_process.HasExited, $"the provider process ended before it was killed; stderr: {Stderr}");
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    /// <summary>Closes stdin and returns the exit code.</summary>
    public async Task<int> EndAsync()
    {
        _process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _process.WaitForExitAsync(timeout.Token);
        return _process.ExitCode;
    }

    private string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.StandardInput.Close();
            if (!_process.WaitForExit(TimeSpan.FromSeconds(10)))
            {
                _process.Kill();
                await _process.WaitForExitAsync();
            }
        }

        _process.Dispose();
    }
}
