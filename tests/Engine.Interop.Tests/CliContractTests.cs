using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Engine.Interop.Tests.Infrastructure;
using static Engine.Interop.Tests.Infrastructure.DiskFiles;

namespace Engine.Interop.Tests;

/// <summary>The `engine serve` command as a separate process: the URIs it prints, what clients see, clean exit on signals.</summary>
public sealed class CliContractTests
{
    private static string EngineDll => EngineCli.Dll;

    [Fact]
    public async Task Serve_ReadOnlyExportWithDescription_ExitsZeroOnSigterm()
    {
        using var dir = new TempDir();
        var file = CreateRandom(dir["disk.raw"], 4 * MiB, 91);
        var sha = Sha256(file);
        var uri = $"nbd+unix:///disk?socket={dir.Socket}";

        await using var engine = Tool.Start("/usr/bin/dotnet",
            [EngineDll, "serve", file, "--socket", dir.Socket, "--export", "disk", "--read-only", "--description", "CLI test disk"]);
        await WaitForUri(engine, uri);
        await WaitForUnixSocket(engine, dir.Socket);

        var json = (await Tool.RunAsync("nbdinfo", "--json", uri)).AssertSuccess();
        using (var doc = JsonDocument.Parse(json.Stdout))
        {
            var export = Assert.Single(doc.RootElement.GetProperty("exports").EnumerateArray());
            Assert.Equal("disk", export.GetProperty("export-name").GetString());
            Assert.Equal("CLI test disk", export.GetProperty("description").GetString());
            Assert.True(export.GetProperty("is_read_only").GetBoolean(), $"--read-only not honoured\n{json}");
            Assert.Equal(4 * MiB, export.GetProperty("export-size").GetInt64());
        }

        var copy = dir["copy.raw"];
        (await Tool.RunAsync("nbdcopy", uri, copy)).AssertSuccess();
        Assert.Equal(sha, Sha256(copy));

        // An idle client stays connected while the server is told to stop: shutdown must not wait for it forever.
        await using var idle = Tool.Start("python3", ["-c", "import nbd, time\nh = nbd.NBD()\nh.connect_uri('" + uri + "')\nprint('connected', flush=True)\ntime.sleep(60)"]);
        await idle.WaitUntilAsync(() => idle.Stdout.Contains("connected", StringComparison.Ordinal), TimeSpan.FromSeconds(20), "the idle client to connect");

        Signals.Send(engine.Pid, Signals.Terminate);
        var exitCode = await engine.WaitForExitAsync(TimeSpan.FromSeconds(20));
        Assert.True(exitCode == 0, $"engine serve exited with {exitCode} after SIGTERM\n{engine.Describe()}");
        Assert.Equal(sha, Sha256(file));
    }

    [Fact]
    public async Task Serve_SeveralExports_ListedByNbdinfo_ExitsZeroOnSigint()
    {
        using var dir = new TempDir();
        var fileA = CreateRandom(dir["a.raw"], 1 * MiB, 92);
        var fileB = CreateRandom(dir["b.raw"], 3 * MiB, 93);

        await using var engine = Tool.Start("/usr/bin/dotnet",
            [EngineDll, "serve", "--socket", dir.Socket, "--export", $"a={fileA}", "--export", $"b={fileB}"]);
        await WaitForUri(engine, $"nbd+unix:///a?socket={dir.Socket}");
        await WaitForUri(engine, $"nbd+unix:///b?socket={dir.Socket}");
        await WaitForUnixSocket(engine, dir.Socket);

        var list = (await Tool.RunAsync("nbdinfo", "--list", "--json", $"nbd+unix:///?socket={dir.Socket}")).AssertSuccess();
        using (var doc = JsonDocument.Parse(list.Stdout))
        {
            var sizes = doc.RootElement.GetProperty("exports").EnumerateArray()
                .ToDictionary(e => e.GetProperty("export-name").GetString()!, e => e.GetProperty("export-size").GetInt64());
            Assert.Equal(new Dictionary<string, long> { ["a"] = 1 * MiB, ["b"] = 3 * MiB }, sizes);
        }

        var copy = dir["b.copy"];
        (await Tool.RunAsync("nbdcopy", $"nbd+unix:///b?socket={dir.Socket}", copy)).AssertSuccess();
        Assert.Equal(Sha256(fileB), Sha256(copy));

        Signals.Send(engine.Pid, Signals.Interrupt);
        var exitCode = await engine.WaitForExitAsync(TimeSpan.FromSeconds(20));
        Assert.True(exitCode == 0, $"engine serve exited with {exitCode} after SIGINT\n{engine.Describe()}");
    }

    [Fact]
    public async Task Serve_Tcp_ServesTheFile()
    {
        using var dir = new TempDir();
        var file = CreateRandom(dir["disk.raw"], 2 * MiB, 94);
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }

        await using var engine = Tool.Start("/usr/bin/dotnet", [EngineDll, "serve", file, "--listen", $"127.0.0.1:{port}"]);
        await engine.WaitUntilAsync(() => engine.Stdout.Contains("nbd://", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the nbd:// URI on stdout");

        var uri = $"nbd://127.0.0.1:{port}/";
        ToolResult? size = null;
        await engine.WaitUntilAsync(() => CanConnectTcp(port), TimeSpan.FromSeconds(20), $"127.0.0.1:{port} to accept");
        size = (await Tool.RunAsync("nbdinfo", "--size", uri)).AssertSuccess();
        Assert.Equal($"{2 * MiB}", size.Stdout.Trim());

        var copy = dir["copy.raw"];
        (await Tool.RunAsync("nbdcopy", uri, copy)).AssertSuccess();
        Assert.Equal(Sha256(file), Sha256(copy));

        Signals.Send(engine.Pid, Signals.Terminate);
        Assert.Equal(0, await engine.WaitForExitAsync(TimeSpan.FromSeconds(20)));
    }

    private static Task WaitForUri(RunningTool engine, string uri) =>
        engine.WaitUntilAsync(() => engine.Stdout.Split('\n').Any(l => l.Trim() == uri), TimeSpan.FromSeconds(30), $"\"{uri}\" on stdout");

    private static Task WaitForUnixSocket(RunningTool engine, string path) =>
        engine.WaitUntilAsync(() =>
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                socket.Connect(new UnixDomainSocketEndPoint(path));
                return true;
            }
            catch (SocketException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(20), $"{path} to accept");

    private static bool CanConnectTcp(int port)
    {
        using var client = new TcpClient();
        try
        {
            client.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
