using System.Diagnostics;
using Engine.Interop.Tests.Client;
using Engine.Interop.Tests.Infrastructure;
using static Engine.Interop.Tests.Infrastructure.DiskFiles;

namespace Engine.Interop.Tests;

/// <summary>
/// <c>engine info</c>, <c>copy</c> and <c>backup</c> against a server that is not there: exit 69 at once with the
/// socket or address named; <c>--connect-timeout</c> waits for one that is still starting, and says so.
/// </summary>
public sealed class ConnectCliTests
{
    /// <summary>Far below the 30 s the client used to retry for, and above a loaded machine's dotnet start-up.</summary>
    private static readonly TimeSpan AtOnce = TimeSpan.FromSeconds(4);

    [Fact]
    public async Task Info_MissingUnixSocket_Exits69AtOnce_NamingTheSocket()
    {
        var clock = Stopwatch.StartNew();
        var result = await EngineCli.RunAsync("info", "nbd+unix:///?socket=/nonexistent");
        var elapsed = clock.Elapsed;
        result.AssertFailure(69, "socket /nonexistent does not exist");
        Assert.True(elapsed < AtOnce, $"took {elapsed}\n{result}");
        result.AssertNoRuntimeText();
    }

    [Theory]
    [InlineData("info")]
    [InlineData("info --list")]
    [InlineData("copy")]
    [InlineData("copy-to")]
    public async Task ClosedTcpPort_Exits69Quickly(string how)
    {
        using var dir = new TempDir();
        var port = ServerProcess.FreePort();
        var uri = $"nbd://127.0.0.1:{port}/";
        string[] args = how switch
        {
            "info" => ["info", uri],
            "info --list" => ["info", "--list", uri],
            "copy" => ["copy", uri, "null:"],
            _ => ["copy", CreateRandom(dir["src.raw"], MiB, 821), uri],
        };
        var clock = Stopwatch.StartNew();
        var result = await EngineCli.RunAsync(args);
        var elapsed = clock.Elapsed;
        result.AssertFailure(69, $"nothing is listening on 127.0.0.1:{port}");
        Assert.True(elapsed < AtOnce, $"took {elapsed}\n{result}");
        result.AssertNoRuntimeText();
    }

    [Fact]
    public async Task Copy_MissingUnixSocket_Exits69_NamingTheSocket()
    {
        using var dir = new TempDir();
        var result = await EngineCli.RunAsync("copy", $"nbd+unix:///disk?socket={dir["gone.sock"]}", "null:");
        result.AssertFailure(69, $"socket {dir["gone.sock"]} does not exist");
    }

    [Fact]
    public async Task Backup_UnreachableNbdSource_Exits69_NamingTheSocket()
    {
        using var dir = new TempDir();
        var clock = Stopwatch.StartNew();
        var result = await EngineCli.RunAsync("backup", "--repo", dir["repo"], "--vmid", "100", "--disk", $"scsi0=nbd+unix:///?socket={dir["gone.sock"]}");
        result.AssertFailure(69, $"socket {dir["gone.sock"]} does not exist");
        Assert.True(clock.Elapsed < AtOnce, $"took {clock.Elapsed}\n{result}");
    }

    [Fact]
    public async Task Info_ConnectTimeout_ConnectsToAServerStartedLater_AndSaysWhatItWaitsFor()
    {
        using var dir = new TempDir();
        var clock = Stopwatch.StartNew();
        await using var info = EngineCli.Start("info", "--connect-timeout", "10", $"nbd+unix:///?socket={dir.Socket}");

        // After a second of waiting it says what for; the server comes up no earlier than 1.5 s after the start.
        var notice = $"waiting for the NBD server at socket {dir.Socket} (retrying for up to 10 s)";
        await info.WaitUntilAsync(() => info.Stderr.Contains(notice, StringComparison.Ordinal), TimeSpan.FromSeconds(10), "the waiting notice on stderr");
        var rest = TimeSpan.FromSeconds(1.5) - clock.Elapsed;
        if (rest > TimeSpan.Zero)
        {
            await Task.Delay(rest);
        }

        Assert.False(info.HasExited, $"engine info gave up before the server started\n{info.Describe()}");

        await using var server = new EngineServer(dir);
        server.Export("", server.Memory(2 * MiB)).Listen();
        var exit = await info.WaitForExitAsync(TimeSpan.FromSeconds(20));
        Assert.True(exit == 0, $"engine info exited {exit}\n{info.Describe()}");
        Assert.Contains($"export-size: {2 * MiB}", info.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Info_ServerAtItsConnectionCap_Exits69_NamingTheSocket()
    {
        using var dir = new TempDir();
        await using var server = new EngineServer(dir, new Nbd.Server.NbdServerOptions { MaxConnections = 1 });
        server.Export("", server.Memory(MiB)).Listen();
        await using var holder = await Nbd.Client.NbdClient.ConnectAsync(server.Uri(), new Nbd.Client.NbdClientOptions { Connections = 1 });

        var result = await EngineCli.RunAsync("info", server.Uri());
        result.AssertFailure(69, $"the server at socket {dir.Socket} closed the connection before the handshake");
    }

    [Fact]
    public async Task Info_ConnectTimeout_GivesUpAfterIt_Exits69()
    {
        using var dir = new TempDir();
        var clock = Stopwatch.StartNew();
        var result = await EngineCli.RunAsync("info", "--connect-timeout", "1", $"nbd+unix:///?socket={dir.Socket}");
        result.AssertFailure(69, $"socket {dir.Socket} does not exist (retried for 1 s)");
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1), $"gave up after {clock.Elapsed}, before --connect-timeout 1");
    }

    [Theory]
    [InlineData("info", "nbd+unix:///disk")]
    [InlineData("info", "nbd://localhost:99999/")]
    [InlineData("info", "http://localhost/")]
    [InlineData("copy", "nbd+unix:///disk")]
    [InlineData("copy", "nbd://localhost:0/")]
    public async Task MalformedUri_IsAUsageError(string command, string uri)
    {
        var result = await EngineCli.RunAsync(command == "info" ? ["info", uri] : ["copy", uri, "null:"]);
        result.AssertFailure(64, uri);
        result.AssertNoRuntimeText();
    }

    [Theory]
    [InlineData("info")]
    [InlineData("copy")]
    public async Task NegativeConnectTimeout_IsAUsageError(string command)
    {
        var uri = "nbd+unix:///?socket=/nonexistent";
        var result = await EngineCli.RunAsync(command == "info" ? ["info", "--connect-timeout", "-1", uri] : ["copy", "--connect-timeout", "-1", uri, "null:"]);
        result.AssertFailure(64, "--connect-timeout -1");
    }

    [Theory]
    [InlineData("info")]
    [InlineData("copy")]
    public async Task MissingExport_IsNamedOnce(string command)
    {
        using var dir = new TempDir();
        await using var server = new EngineServer(dir);
        server.Export("disk", server.Memory(MiB)).Listen();
        var uri = server.Uri("nosuch");
        var result = await EngineCli.RunAsync(command == "info" ? ["info", uri] : ["copy", uri, "null:"]);
        result.AssertFailure(1, $"engine {command}: {uri}: export 'nosuch' not found");
        Assert.Equal(1, result.Stderr.Split("not found").Length - 1);
    }

    [Fact]
    public async Task Copy_TargetInAMissingDirectory_IsNamed_WithoutRuntimeText()
    {
        using var dir = new TempDir();
        var source = CreateRandom(dir["src.raw"], MiB, 822);
        var target = dir["no/such/dir/out.raw"];
        var result = await EngineCli.RunAsync("copy", source, target);
        result.AssertFailure(1, $"{target}: no such file or directory");
        result.AssertNoRuntimeText();
    }
}
