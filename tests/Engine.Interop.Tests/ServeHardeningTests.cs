using System.Diagnostics;
using System.Net.Sockets;
using Engine.Nbd.Client;
using static Engine.Interop.Tests.Infrastructure.DiskFiles;

namespace Engine.Interop.Tests;

/// <summary>
/// <c>engine serve</c> against slow, idle and surplus clients (the CVE-2024-7409 class), its socket path safety, and
/// its usage errors, as a separate process.
/// </summary>
public sealed class ServeHardeningTests
{
    [Fact]
    public async Task SlowLorisClient_TricklingBytes_IsDroppedAtTheHandshakeTimeout()
    {
        using var dir = new TempDir();
        await using var engine = await StartServeAsync(dir, "memory:1M", "--handshake-timeout", "2");
        using var client = await ConnectRawAsync(dir.Socket);
        var clock = Stopwatch.StartNew();
        await ReadGreetingAsync(client);

        // Client flags, then an option header one byte every 300 ms: each receive gets a byte in good time, so only a
        // clock over the whole handshake ends this.
        using var stop = new CancellationTokenSource();
        var trickle = Task.Run(async () =>
        {
            byte[] bytes = [0, 0, 0, 3, .. "IHAVEOPT"u8, 0, 0, 0, 3, 0, 0, 0, 0];
            try
            {
                foreach (var b in bytes)
                {
                    await client.SendAsync(new[] { b }, SocketFlags.None, stop.Token);
                    await Task.Delay(300, stop.Token);
                }
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException)
            {
                // Dropped, or the test is over.
            }
        });

        var closed = await WaitForCloseAsync(client, TimeSpan.FromSeconds(8));
        var elapsed = clock.Elapsed;
        await stop.CancelAsync();
        await trickle;
        Assert.True(closed, $"a client trickling a byte every 300 ms was still connected after {elapsed} with --handshake-timeout 2\n{engine.Describe()}");
        Assert.True(elapsed >= TimeSpan.FromSeconds(1.8), $"dropped after {elapsed}, before the 2 s deadline");
        Assert.True(elapsed < TimeSpan.FromSeconds(5), $"dropped only after {elapsed} with --handshake-timeout 2");
    }

    [Fact]
    public async Task MaxConnections_ExtraClosedAtOnce_AndNbdinfoIsServedOnceIdlersAreDropped()
    {
        using var dir = new TempDir();
        await using var engine = await StartServeAsync(dir, "memory:1M", "--max-connections", "2", "--handshake-timeout", "5");
        using var idle1 = await ConnectRawAsync(dir.Socket);
        using var idle2 = await ConnectRawAsync(dir.Socket);
        await ReadGreetingAsync(idle1);
        await ReadGreetingAsync(idle2);

        using (var extra = await ConnectRawAsync(dir.Socket))
        {
            var clock = Stopwatch.StartNew();
            var buffer = new byte[64];
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            var n = await ReceiveOrResetAsync(extra, buffer, cts.Token);
            Assert.True(n == 0, $"connection 3 with --max-connections 2 got {n} bytes instead of being closed");

            // At once, not by the 5 s handshake clock (with room for a loaded machine).
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2.5), $"connection 3 closed only after {clock.Elapsed}");
        }

        Assert.True(await WaitForCloseAsync(idle1, TimeSpan.FromSeconds(10)), "idle client 1 outlived --handshake-timeout 5");
        Assert.True(await WaitForCloseAsync(idle2, TimeSpan.FromSeconds(10)), "idle client 2 outlived --handshake-timeout 5");
        var size = (await Tool.RunAsync("nbdinfo", "--size", $"nbd+unix:///?socket={dir.Socket}")).AssertSuccess();
        Assert.Equal($"{MiB}", size.Stdout.Trim());
    }

    [Fact]
    public async Task ClientIdleInTransmission_LongerThanTheHandshakeTimeout_IsStillServed()
    {
        using var dir = new TempDir();
        var file = CreateRandom(dir["disk.raw"], MiB, 811);
        await using var engine = await StartServeAsync(dir, file, "--handshake-timeout", "1");
        await using var client = await NbdClient.ConnectAsync($"nbd+unix:///?socket={dir.Socket}", new NbdClientOptions { Connections = 1 });
        await Task.Delay(2500);
        var data = new byte[MiB];
        await client.ReadAsync(0, data);
        var expected = await File.ReadAllBytesAsync(file);
        Assert.True(data.SequenceEqual(expected), "read after idling 2.5 s differs from the file");
    }

    [Fact]
    public async Task SocketPathIsARegularFile_Exits69_AndKeepsTheFile()
    {
        using var dir = new TempDir();
        var path = dir["precious.txt"];
        await File.WriteAllTextAsync(path, "keep me");
        var result = await EngineCli.RunAsync("serve", "memory:1M", "--socket", path);
        result.AssertFailure(69, path);
        Assert.Contains("not a socket", result.Stderr, StringComparison.Ordinal);
        Assert.Equal("keep me", await File.ReadAllTextAsync(path));
    }

    [Fact]
    public async Task SocketPathIsALiveSocket_Exits69_AndTheFirstServerKeepsItsClients()
    {
        using var dir = new TempDir();
        var file = CreateRandom(dir["disk.raw"], MiB, 812);
        await using var first = await StartServeAsync(dir, file);
        var result = await EngineCli.RunAsync("serve", "memory:2M", "--socket", dir.Socket);
        result.AssertFailure(69, dir.Socket);
        Assert.Contains("another server is listening", result.Stderr, StringComparison.Ordinal);

        var size = (await Tool.RunAsync("nbdinfo", "--size", $"nbd+unix:///?socket={dir.Socket}")).AssertSuccess();
        Assert.Equal($"{MiB}", size.Stdout.Trim());
    }

    [Fact]
    public async Task StaleSocket_IsReplaced()
    {
        using var dir = new TempDir();
        (await Tool.RunAsync("python3", "-c", $"import socket; s = socket.socket(socket.AF_UNIX); s.bind('{dir.Socket}'); s.close()")).AssertSuccess();
        Assert.True(File.Exists(dir.Socket), "python left no socket file behind");
        await using var engine = await StartServeAsync(dir, "memory:3M");
        var size = (await Tool.RunAsync("nbdinfo", "--size", $"nbd+unix:///?socket={dir.Socket}")).AssertSuccess();
        Assert.Equal($"{3 * MiB}", size.Stdout.Trim());
    }

    [Theory]
    [InlineData("--listen", "bogus")]
    [InlineData("--listen", "127.0.0.1:99999")]
    [InlineData("--listen", "127.0.0.1:")]
    [InlineData("--listen", "127.0.0.1:ten")]
    [InlineData("--listen", ":10809")]
    [InlineData("--listen", "no-such-host.invalid:10809")]
    [InlineData("--max-connections", "0")]
    [InlineData("--handshake-timeout", "0")]
    [InlineData("--handshake-timeout", "-5")]
    public async Task MalformedListenFlags_AreUsageErrors(string flag, string value)
    {
        var result = await EngineCli.RunAsync("serve", "memory:1M", flag, value);
        result.AssertFailure(64, $"{flag} {value}");
        result.AssertNoRuntimeText();
    }

    [Fact]
    public async Task OvaServe_MalformedListen_IsAUsageError_BeforeTheArchiveIsOpened()
    {
        var result = await EngineCli.RunAsync("ova", "serve", "/nonexistent/x.ova", "--listen", "bogus");
        result.AssertFailure(64, "--listen bogus");
    }

    [Fact]
    public async Task Export_SocketPathIsARegularFile_Exits69_AndKeepsTheFile()
    {
        using var dir = new TempDir();
        var disk = CreateRandom(dir["disk.raw"], MiB, 813);
        var backup = (await EngineCli.RunAsync("backup", "--repo", dir["repo"], "--vmid", "100", "--disk", $"scsi0={disk}", "--json")).AssertSuccess();
        using var manifest = System.Text.Json.JsonDocument.Parse(backup.Stdout);
        var snapshot = manifest.RootElement.GetProperty("snapshot").GetString()!;
        var path = dir["precious.txt"];
        await File.WriteAllTextAsync(path, "keep me");

        var result = await EngineCli.RunAsync("export", "--repo", dir["repo"], "--snapshot", snapshot, "--socket", path);
        result.AssertFailure(69, $"socket {path}: the path exists and is not a socket");
        Assert.Equal("keep me", await File.ReadAllTextAsync(path));
    }

    [Theory]
    [InlineData("export", "--max-connections", "0")]
    [InlineData("export", "--handshake-timeout", "0")]
    [InlineData("ova serve", "--max-connections", "-1")]
    public async Task OtherServers_LimitsOutOfRange_AreUsageErrors(string command, string flag, string value)
    {
        string[] args = command == "export"
            ? ["export", "--repo", "/nonexistent", "--snapshot", "vm/100/2024-01-01T00:00:00Z", flag, value]
            : ["ova", "serve", "/nonexistent/x.ova", flag, value];
        var result = await EngineCli.RunAsync(args);
        result.AssertFailure(64, $"{flag} {value}");
    }

    [Fact]
    public async Task MissingFile_IsNamed_WithoutRuntimeText()
    {
        var result = await EngineCli.RunAsync("serve", "/nonexistent/disk.raw", "--listen", "127.0.0.1:0");
        result.AssertFailure(66, "/nonexistent/disk.raw");
        result.AssertNoRuntimeText();
    }

    [Fact]
    public async Task MalformedMemorySize_IsAUsageError_WithoutAStackTrace()
    {
        var result = await EngineCli.RunAsync("serve", "memory:abc", "--listen", "127.0.0.1:0");
        result.AssertFailure(64, "memory:abc: 'abc' is not a size");
        result.AssertNoRuntimeText();
    }

    [Fact]
    public async Task SocketInAMissingDirectory_Exits69_NamingTheDirectory()
    {
        var result = await EngineCli.RunAsync("serve", "memory:1M", "--socket", "/nonexistent-dir/x.sock");
        result.AssertFailure(69, "socket /nonexistent-dir/x.sock: cannot listen: directory /nonexistent-dir does not exist");
    }

    private static async Task<RunningTool> StartServeAsync(TempDir dir, string file, params string[] flags)
    {
        var engine = EngineCli.Start(["serve", file, "--socket", dir.Socket, .. flags]);
        await engine.WaitUntilAsync(() => engine.Stdout.Contains("nbd+unix://", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the URI on stdout");
        return engine;
    }

    private static async Task<Socket> ConnectRawAsync(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(path));
        return socket;
    }

    private static async Task ReadGreetingAsync(Socket socket)
    {
        var greeting = new byte[18];
        var done = 0;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (done < greeting.Length)
        {
            var n = await socket.ReceiveAsync(greeting.AsMemory(done), SocketFlags.None, cts.Token);
            Assert.True(n > 0, $"server closed after {done} bytes of the greeting");
            done += n;
        }

        Assert.Equal("NBDMAGIC"u8.ToArray(), greeting[..8]);
    }

    private static async Task<bool> WaitForCloseAsync(Socket socket, TimeSpan timeout)
    {
        var buffer = new byte[4096];
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (await ReceiveOrResetAsync(socket, buffer, cts.Token) > 0)
            {
            }

            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Bytes received; 0 at end of stream or on a reset (both mean the server closed).</summary>
    private static async Task<int> ReceiveOrResetAsync(Socket socket, byte[] buffer, CancellationToken cancellationToken)
    {
        try
        {
            return await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
        }
        catch (SocketException)
        {
            return 0;
        }
    }
}
