using System.Diagnostics;
using Engine.Interop.Tests.Infrastructure;
using Engine.Nbd.Client;
using static Engine.Interop.Tests.Client.ClientInterop;
using static Engine.Interop.Tests.Infrastructure.DiskFiles;

namespace Engine.Interop.Tests.Client;

/// <summary>
/// Without ConnectTimeout, nothing listening fails at once with <see cref="NbdConnectException"/> naming the socket or
/// address; with it, ConnectAsync keeps retrying while the server is not up yet, and gives up promptly at the timeout.
/// </summary>
public sealed class ConnectRetryTests
{
    [Fact]
    public async Task ServerStartsLate_InProcess_ConnectSucceeds()
    {
        using var dir = new TempDir();
        await using var server = new EngineServer(dir);
        var memory = server.Memory(4 * MiB);
        var data = RandomBytes(4096, 701);
        await memory.WriteAsync(MiB, data);
        server.Export("late", memory);

        var clock = Stopwatch.StartNew();
        var connect = NbdClient.ConnectAsync(server.Uri("late"), new NbdClientOptions { ConnectTimeout = TimeSpan.FromSeconds(10) });
        await Task.Delay(1500);
        Assert.False(connect.IsCompleted, $"ConnectAsync finished before any server existed: {connect.Status} {connect.Exception?.InnerException?.Message}");
        server.Listen();

        await using var client = await WithinAsync(connect, TimeSpan.FromSeconds(15), "connect to a server started 1.5 s late");
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1.4), $"connected after {clock.Elapsed}, before the server listened");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(8), $"connect took {clock.Elapsed} for a server 1.5 s late");
        AssertBytes(data, await ReadAsync(client, MiB, 4096), "read after a late connect");
    }

    [Fact]
    public async Task ServerStartsLate_EngineServeOverTcp_ConnectSucceeds()
    {
        using var dir = new TempDir();
        var file = CreateRandom(dir["disk.raw"], 2 * MiB, 702);
        var port = ServerProcess.FreePort();

        var connect = NbdClient.ConnectAsync($"nbd://127.0.0.1:{port}/", new NbdClientOptions { ConnectTimeout = TimeSpan.FromSeconds(20) });
        await Task.Delay(1500);
        Assert.False(connect.IsCompleted, $"ConnectAsync finished before any server existed: {connect.Status} {connect.Exception?.InnerException?.Message}");
        await using var engine = Tool.Start("/usr/bin/dotnet", [EngineDll, "serve", file, "--listen", $"127.0.0.1:{port}"]);

        await using var client = await WithinAsync(connect, TimeSpan.FromSeconds(30), "connect to engine serve started 1.5 s late");
        Assert.Equal(2 * MiB, client.Size);
        AssertBytes(await File.ReadAllBytesAsync(file), await ReadAsync(client, 0, 2 * MiB), "read from engine serve");
    }

    [Theory]
    [InlineData("unix")]
    [InlineData("tcp")]
    public async Task NoServer_FailsPromptlyAtConnectTimeout(string transport)
    {
        using var dir = new TempDir();
        var uri = transport == "unix" ? $"nbd+unix:///?socket={dir["nobody.sock"]}" : $"nbd://127.0.0.1:{ServerProcess.FreePort()}/";
        var clock = Stopwatch.StartNew();
        var error = await FaultWithinAsync(NbdClient.ConnectAsync(uri, new NbdClientOptions { ConnectTimeout = TimeSpan.FromSeconds(1) }), TimeSpan.FromSeconds(10), $"connect to {uri} with nothing listening");
        Assert.IsType<NbdConnectException>(error);
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(0.9), $"gave up after {clock.Elapsed}, before the 1 s ConnectTimeout");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"gave up only after {clock.Elapsed} with a 1 s ConnectTimeout");
    }

    [Theory]
    [InlineData("unix")]
    [InlineData("tcp")]
    public async Task NoServer_WithoutConnectTimeout_FailsAtOnce_NamingTheEndpoint(string transport)
    {
        using var dir = new TempDir();
        var port = ServerProcess.FreePort();
        var uri = transport == "unix" ? $"nbd+unix:///?socket={dir["nobody.sock"]}" : $"nbd://127.0.0.1:{port}/";
        var clock = Stopwatch.StartNew();
        var error = await FaultWithinAsync(NbdClient.ConnectAsync(uri), TimeSpan.FromSeconds(10), $"connect to {uri} with nothing listening");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"gave up only after {clock.Elapsed} with no ConnectTimeout (it used to retry for 30 s)");
        var connect = Assert.IsType<NbdConnectException>(error);
        Assert.Equal(uri, connect.Uri?.Text);
        Assert.Equal(
            transport == "unix" ? $"{uri}: cannot connect: socket {dir["nobody.sock"]} does not exist" : $"{uri}: cannot connect: nothing is listening on 127.0.0.1:{port} (connection refused)",
            error.Message);
    }

    [Fact]
    public async Task ListExports_NoServer_FailsAtOnce()
    {
        using var dir = new TempDir();
        var clock = Stopwatch.StartNew();
        var error = await FaultWithinAsync(NbdClient.ListExportsAsync(NbdUri.Parse($"nbd+unix:///?socket={dir["nobody.sock"]}")), TimeSpan.FromSeconds(10), "list with nothing listening");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"gave up only after {clock.Elapsed}");
        Assert.IsType<NbdConnectException>(error);
    }
}
