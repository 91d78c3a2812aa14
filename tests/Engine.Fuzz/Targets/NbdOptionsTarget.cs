using Engine.Fuzz.Support;
using Engine.Nbd.Server.Handshake;
using Engine.Nbd.Transport;

namespace Engine.Fuzz.Targets;

/// <summary>
/// The server's fixed-newstyle handshake: the input is what a client sends after the greeting (client flags, then
/// options), delivered over a real socket pair to <see cref="HandshakeSession"/>. The handshake may end normally,
/// abort, or drop the client with <see cref="ConnectionClosedException"/>; anything else is a crash.
/// </summary>
internal sealed class NbdOptionsTarget : IFuzzTarget
{
    public string Name => "nbd-options";

    public string Description => "NBD handshake: client flags and options (EXPORT_NAME, LIST, INFO/GO, meta contexts, reply formats)";

    public void Run(ReadOnlySpan<byte> input)
    {
        using var pair = new SocketPair(input);
        using var channel = new SocketChannel(pair.Local);

        // The socket pair ends with the input, so no clock is needed to end a slow client; fuzzing stays deterministic.
        using var clock = new HandshakeClock(Timeout.InfiniteTimeSpan, () => { });
        try
        {
            new HandshakeSession(NbdFixtures.Server, channel, clock, NbdFixtures.Log, "fuzz").Run();
        }
        catch (ConnectionClosedException)
        {
            // The client broke the protocol or left: the documented way a handshake refuses input.
        }

        if (NbdFixtures.Log.Take() is { } logged)
        {
            throw logged;
        }
    }
}
