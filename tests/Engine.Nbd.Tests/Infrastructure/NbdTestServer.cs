using Engine.Blocks;
using Engine.Blocks.Devices;
using Engine.Nbd.Server;

namespace Engine.Nbd.Tests.Infrastructure;

/// <summary>An in-process <see cref="NbdServer"/> on a private Unix socket, with one default memory export.</summary>
internal sealed class NbdTestServer : IAsyncDisposable
{
    private readonly List<IBlockDevice> _devices = [];

    private NbdTestServer(NbdServer server, string path)
    {
        Server = server;
        SocketPath = path;
    }

    public NbdServer Server { get; }

    public string SocketPath { get; }

    /// <summary>The first export's device.</summary>
    public IBlockDevice Device => _devices[0];

    /// <summary>
    /// Starts a server. With no <paramref name="exports"/>, one read-write export "disk" of
    /// <paramref name="size"/> bytes backed by a sparse <see cref="MemoryBlockDevice"/> is added.
    /// </summary>
    public static NbdTestServer Start(long size = 1 << 20, NbdServerOptions? options = null, params NbdExport[] exports)
    {
        var server = new NbdServer(options ?? new NbdServerOptions { HandshakeTimeout = TimeSpan.FromSeconds(10) });
        var path = Path.Combine(Path.GetTempPath(), $"nbdt-{Guid.NewGuid():N}"[..18] + ".sock");
        var ts = new NbdTestServer(server, path);
        if (exports.Length == 0)
        {
            var device = new MemoryBlockDevice(size);
            exports = [new NbdExport("disk", device, description: "test disk")];
        }

        foreach (var e in exports)
        {
            ts._devices.Add(e.Device);
            server.AddExport(e);
        }

        server.ListenUnix(path);
        return ts;
    }

    public Task<RawNbdClient> ConnectAsync() => RawNbdClient.ConnectAsync(SocketPath);

    /// <summary>Connects and negotiates in one go.</summary>
    public async Task<RawNbdClient> OpenAsync(string export = "", bool structured = false, bool extended = false, string[]? metaContexts = null)
    {
        var client = await ConnectAsync();
        try
        {
            await client.NegotiateAsync(export, structured, extended, metaContexts);
            return client;
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    /// <summary>Waits until <see cref="NbdServer.ActiveConnections"/> drops to <paramref name="expected"/>.</summary>
    public async Task<int> WaitForConnectionsAsync(int expected, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (Server.ActiveConnections > expected && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        return Server.ActiveConnections;
    }

    public async ValueTask DisposeAsync()
    {
        var stop = Server.StopAsync(TimeSpan.FromSeconds(2));
        if (await Task.WhenAny(stop, Task.Delay(TimeSpan.FromSeconds(10))) != stop)
        {
            // Leave the server behind rather than hang the whole run; the test fails here if it did not already.
            throw new TimeoutException($"NbdServer.StopAsync(2 s) did not return within 10 s; {Server.ActiveConnections} connections still open");
        }

        await stop;
        await Server.DisposeAsync();
        foreach (var d in _devices.Distinct())
        {
            await d.DisposeAsync();
        }

        try
        {
            File.Delete(SocketPath);
        }
        catch (IOException)
        {
        }
    }
}
