using Engine.Blocks;
using Engine.Nbd.Server;

namespace Engine.Benchmarks.Nbd;

/// <summary>Engine's real NBD server, in process, serving one device as the default export on a Unix socket.</summary>
internal sealed class ServedExport : IDisposable
{
    private readonly NbdServer _server = new();

    public ServedExport(string socketPath, IBlockDevice device)
    {
        _server.AddExport(new NbdExport(string.Empty, device, readOnly: true));
        SocketPath = socketPath;
        _server.ListenUnix(SocketPath);
    }

    public string SocketPath { get; }

    public string Uri => $"nbd+unix:///?socket={SocketPath}";

    public void Dispose() => _server.DisposeAsync().AsTask().GetAwaiter().GetResult();
}
