using Engine.Blocks.Devices;
using Engine.Fuzz.Support;
using Engine.Nbd.Server;

namespace Engine.Fuzz.Targets;

/// <summary>The server the NBD targets talk to: a writable default export and a read-only named one with a description.</summary>
internal static class NbdFixtures
{
    /// <summary>Size of every export: small, so that valid ranges are easy to hit.</summary>
    public const long ExportSize = 1 << 20;

    /// <summary>Largest payload the fuzzed server accepts (the default 32 MiB would make each huge WRITE a 32 MiB rental).</summary>
    public const int MaxPayload = 256 << 10;

    public static ExceptionLogger Log { get; } = new();

    public static NbdServerOptions Options { get; } = new()
    {
        MaxPayload = MaxPayload,
        MaxRequestsInFlight = 16,
        LoggerFactory = Log,
    };

    public static NbdServer Server { get; } = CreateServer();

    private static NbdServer CreateServer()
    {
        var server = new NbdServer(Options);
        server.AddExport(new NbdExport("", new MemoryBlockDevice(ExportSize)));
        server.AddExport(new NbdExport("second", new MemoryBlockDevice(ExportSize), "a read-only export", readOnly: true));
        return server;
    }
}
