using Engine.Blocks;
using Engine.Blocks.Devices;
using Engine.Fuzz.Support;
using Engine.Nbd.Protocol;
using Engine.Nbd.Server;
using Engine.Nbd.Server.Handshake;
using Engine.Nbd.Server.Transmission;
using Engine.Nbd.Transport;

namespace Engine.Fuzz.Targets;

/// <summary>
/// The transmission phase: request headers (compact or extended), write payloads and everything the server does
/// with them, over a real socket pair. The first input byte says what the handshake agreed on (see
/// <see cref="Mode"/>); the rest is the client's request stream. A request that fails inside the server is
/// answered with an error and logged with its exception; that log line is the crash.
/// </summary>
internal sealed class NbdTransmissionTarget : IFuzzTarget
{
    public string Name => "nbd-transmission";

    public string Description => "NBD transmission: mode byte (structured/extended/meta context/read-only/file export) then request headers and payloads";

    /// <summary>The bits of the first input byte.</summary>
    [Flags]
    public enum Mode : byte
    {
        None = 0,
        Structured = 1,
        Extended = 2,
        BaseAllocation = 4,
        ReadOnly = 8,
        FileExport = 16,
    }

    public void Run(ReadOnlySpan<byte> input)
    {
        if (input.IsEmpty)
        {
            return;
        }

        var mode = (Mode)input[0];
        IBlockDevice device = mode.HasFlag(Mode.FileExport) ? OpenScratchExport() : new MemoryBlockDevice(NbdFixtures.ExportSize);
        try
        {
            var export = new NbdExport("", device, readOnly: mode.HasFlag(Mode.ReadOnly));
            uint[] contexts = mode.HasFlag(Mode.BaseAllocation) && export.MetaContexts.TryFind(NbdWire.BaseAllocation, out var id) ? [id] : [];
            var extended = mode.HasFlag(Mode.Extended);
            var structured = extended || mode.HasFlag(Mode.Structured);
            var session = new NegotiatedSession(export, ExportFlags.For(export, structured), structured, extended, contexts);
            using var pair = new SocketPair(input[1..]);
            using var channel = new SocketChannel(pair.Local);
            try
            {
                new TransmissionSession(session, channel, NbdFixtures.Options, NbdFixtures.Log, "fuzz", CancellationToken.None).Run();
            }
            catch (ConnectionClosedException)
            {
                // Out of step, oversized payload or end of input mid-request: the server drops the client.
            }
        }
        finally
        {
            device.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        if (NbdFixtures.Log.Take() is { } logged)
        {
            throw logged;
        }
    }

    /// <summary>A fresh zeroed file export (reads of file exports take the sendfile path).</summary>
    private static FileBlockDevice OpenScratchExport()
    {
        var path = Scratch.PathOf("export.img");
        using (var file = File.Create(path))
        {
            file.SetLength(NbdFixtures.ExportSize);
        }

        return FileBlockDevice.Open(path, FileBlockDeviceOptions.Default);
    }
}
