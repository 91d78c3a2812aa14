using Engine.Blocks;
using Engine.Blocks.Devices;
using Engine.Nbd.Server;

namespace Engine.Interop.Tests.Infrastructure;

/// <summary>
/// An in-process Engine NBD server on a Unix socket in a test's temp dir, plus the devices it serves (disposed
/// after the server has stopped).
/// </summary>
internal sealed class EngineServer : IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _devices = [];

    public EngineServer(TempDir dir, NbdServerOptions? options = null)
    {
        SocketPath = dir.Socket;
        Server = new NbdServer(options ?? new NbdServerOptions());
    }

    public NbdServer Server { get; }

    public string SocketPath { get; }

    /// <summary>The libnbd/qemu URI of an export ("" = the default export).</summary>
    public string Uri(string export = "") => $"nbd+unix:///{export}?socket={SocketPath}";

    /// <summary>Opens a raw file as a device owned by this server.</summary>
    public FileBlockDevice OpenFile(string path, bool readOnly = false, bool direct = false) =>
        Own(FileBlockDevice.Open(path, new FileBlockDeviceOptions { ReadOnly = readOnly, Direct = direct }));

    public MemoryBlockDevice Memory(long size) => Own(new MemoryBlockDevice(size));

    public T Own<T>(T device)
        where T : IAsyncDisposable
    {
        _devices.Add(device);
        return device;
    }

    public EngineServer Export(string name, IBlockDevice device, string? description = null, bool readOnly = false)
    {
        Server.AddExport(new NbdExport(name, device, description: description, readOnly: readOnly));
        return this;
    }

    public EngineServer Listen()
    {
        Server.ListenUnix(SocketPath);
        return this;
    }

    /// <summary>Waits until every client connection has been closed by the server.</summary>
    public async Task WaitForNoConnectionsAsync()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (Server.ActiveConnections != 0)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{Server.ActiveConnections} connection(s) still open 10 s after the clients exited");
            await Task.Delay(20);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Server.StopAsync(TimeSpan.FromSeconds(5)).WaitAsync(TimeSpan.FromSeconds(20));
            await Server.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(20));
        }
        finally
        {
            for (var i = _devices.Count - 1; i >= 0; i--)
            {
                await _devices[i].DisposeAsync();
            }
        }
    }
}
