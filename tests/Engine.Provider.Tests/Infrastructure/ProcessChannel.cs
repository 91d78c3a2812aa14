using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;

namespace Engine.Provider.Tests.Infrastructure;

/// <summary>
/// <c>dotnet engine.dll provider --repo DIR [ARGS]</c> as a child process, spoken to over stdin/stdout. Calls back
/// from the provider (<c>{"call":...}</c>) are answered by <see cref="CallHandler"/>, as the Perl plugin answers them.
/// </summary>
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

    /// <summary>The provider process's id (for /proc).</summary>
    public int Pid => _process.Id;

    /// <summary>The provider's stdin as bytes, for lines no JSON writer would make.</summary>
    public Stream Input => _process.StandardInput.BaseStream;

    public IReadOnlyList<(string Level, string Message)> Logs => _logs;

    /// <summary>Answers a <c>{"call":{...}}</c> line with the object sent back as <c>{"reply":...}</c>.</summary>
    public Func<JsonObject, JsonObject>? CallHandler { get; set; }

    public static ProcessChannel Start(string repositoryPath, params string[] extraArgs) => StartUnder([], repositoryPath, extraArgs);

    /// <summary>
    /// Starts the provider under <paramref name="launcher"/> (a command and its arguments that run the rest, such as
    /// <c>unshare … --</c>); none starts it directly.
    /// </summary>
    public static ProcessChannel StartUnder(IReadOnlyList<string> launcher, string repositoryPath, params string[] extraArgs)
    {
        var engine = System.IO.Path.Combine(AppContext.BaseDirectory, "engine.dll");
        Assert.True(File.Exists(engine), $"{engine} is missing: the test project must reference src/Engine.Cli");
        return StartCommand([.. launcher, Tool.Require("dotnet"), engine], repositoryPath, extraArgs);
    }

    /// <summary>
    /// Starts any provider <paramref name="command"/> (a program and its first arguments) as the Perl plugin starts
    /// its <c>engine-command</c>: with <c>provider --repo DIR [ARGS]</c> appended.
    /// </summary>
    public static ProcessChannel StartCommand(IReadOnlyList<string> command, string repositoryPath, params string[] extraArgs)
    {
        var info = new ProcessStartInfo(command[0])
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardInputEncoding = new UTF8Encoding(false),
        };
        foreach (var arg in (string[])[.. command.Skip(1), "provider", "--repo", repositoryPath, .. extraArgs])
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
        return ResponseLines.Result(method, await ReadResponseAsync(method, id));
    }

    /// <summary>Writes a request without waiting for its response; returns its id.</summary>
    public async Task<long> SendAsync(string method, JsonObject? parameters = null)
    {
        var id = ++_nextId;
        await WriteLineAsync(new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters ?? [] });
        return id;
    }

    public async Task WriteLineAsync(JsonObject line)
    {
        await _process.StandardInput.WriteLineAsync(line.ToJsonString());
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>Reads the next line that is not a log line: a response or a call.</summary>
    public async Task<JsonObject> ReadMessageAsync(string what)
    {
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
                Assert.Fail($"{what}: nothing within 60 s; stderr: {Stderr}");
                throw;
            }

            Assert.True(line is not null, $"{what}: the provider process ended; stderr: {Stderr}");
            var node = JsonNode.Parse(line)!.AsObject();
            if (node["log"] is JsonObject log)
            {
                lock (_logs)
                {
                    _logs.Add(((string)log["level"]!, (string)log["message"]!));
                }

                continue;
            }

            return node;
        }
    }

    /// <summary>Reads up to the response to <paramref name="id"/>, answering calls on the way.</summary>
    public async Task<JsonObject> ReadResponseAsync(string method, long id)
    {
        while (true)
        {
            var message = await ReadMessageAsync(method);
            if (message["call"] is JsonObject call)
            {
                Assert.True(CallHandler is not null, $"{method}: unexpected call {message.ToJsonString()}");
                await WriteLineAsync(new JsonObject { ["reply"] = CallHandler(call) });
                continue;
            }

            Assert.True(message["id"] is not null && (long)message["id"]! == id, $"expected the response to request {id}, got: {message.ToJsonString()}");
            return message;
        }
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
