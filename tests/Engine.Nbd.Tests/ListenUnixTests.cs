using System.Diagnostics;
using System.Net.Sockets;
using Engine.Blocks.Devices;
using Engine.Nbd.Server;
using Engine.Nbd.Tests.Infrastructure;
using Engine.Nbd.Transport;

namespace Engine.Nbd.Tests;

/// <summary>ListenUnix replaces only a stale socket: a user's file and a live server's socket are left alone.</summary>
public sealed class ListenUnixTests
{
    [Fact]
    public async Task RegularFileAtThePath_IsRefusedAndKept()
    {
        var path = Path.Combine(Path.GetTempPath(), $"nbdt-{Guid.NewGuid():N}"[..18] + ".sock");
        await File.WriteAllTextAsync(path, "precious");
        try
        {
            await using var server = new NbdServer();
            var error = Assert.Throws<NbdListenException>(() => server.ListenUnix(path));
            Assert.Contains(path, error.Message, StringComparison.Ordinal);
            Assert.Contains("not a socket", error.Message, StringComparison.Ordinal);
            Assert.Equal(path, error.Address);
            Assert.Equal("precious", await File.ReadAllTextAsync(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task LiveSocketAtThePath_IsRefused_AndItsServerKeepsServing()
    {
        await using var live = NbdTestServer.Start();
        await using var second = new NbdServer();
        second.AddExport(new NbdExport("disk", new MemoryBlockDevice(4096)));
        var error = Assert.Throws<NbdListenException>(() => second.ListenUnix(live.SocketPath));
        Assert.Contains(live.SocketPath, error.Message, StringComparison.Ordinal);
        Assert.Contains("another server is listening", error.Message, StringComparison.Ordinal);

        await using var client = await live.OpenAsync("disk");
        Assert.Equal(new byte[512], await client.ReadDataAsync(0, 512));
    }

    [Fact]
    public async Task StaleSocketAtThePath_IsReplaced()
    {
        var path = Path.Combine(Path.GetTempPath(), $"nbdt-{Guid.NewGuid():N}"[..18] + ".sock");
        try
        {
            // A socket file that nothing listens on any more, as a killed server leaves behind (python does not
            // unlink on close).
            var stale = Process.Start("python3", ["-c", $"import socket; s = socket.socket(socket.AF_UNIX); s.bind('{path}'); s.close()"]);
            await stale.WaitForExitAsync();
            Assert.Equal(0, stale.ExitCode);
            Assert.True(File.Exists(path), "python did not leave the socket file behind");

            await using var server = new NbdServer();
            server.AddExport(new NbdExport("disk", new MemoryBlockDevice(1 << 20)));
            server.ListenUnix(path);
            await using var client = await RawNbdClient.ConnectAsync(path);
            await client.NegotiateAsync("disk");
            Assert.Equal(new byte[512], await client.ReadDataAsync(0, 512));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task TcpAddressInUse_NamesTheAddress()
    {
        using var taken = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        taken.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        taken.Listen();
        var endPoint = (System.Net.IPEndPoint)taken.LocalEndPoint!;
        await using var server = new NbdServer();
        var error = Assert.Throws<NbdListenException>(() => server.ListenTcp(endPoint));
        Assert.Equal($"{endPoint}: cannot listen: address already in use", error.Message);
    }
}
