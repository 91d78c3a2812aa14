using Engine.Fuzz.Support;
using Engine.Nbd.Client;
using Engine.Nbd.Transport;

namespace Engine.Fuzz.Targets;

/// <summary>
/// The client's side of the handshake against a hostile server: the input's first byte picks what the client does
/// (see <see cref="Operation"/>), the rest is what the server sends (greeting, option replies), over a socket pair.
/// The client refuses a bad server with <see cref="NbdException"/> or <see cref="ConnectionClosedException"/>.
/// </summary>
internal sealed class NbdClientHandshakeTarget : IFuzzTarget
{
    private static readonly NbdClientOptions Options = new() { ListMetaContexts = true, MetaContexts = ["qemu:dirty-bitmap:b"] };

    public string Name => "nbd-client-handshake";

    public string Description => "NBD client handshake: operation byte (GO, LIST, INFO, LIST_META_CONTEXT) then the server's greeting and option replies";

    /// <summary>What the client asks the server, chosen by the first input byte (modulo 4).</summary>
    public enum Operation
    {
        Negotiate,
        ListExports,
        Info,
        ListMetaContexts,
    }

    public void Run(ReadOnlySpan<byte> input)
    {
        if (input.IsEmpty)
        {
            return;
        }

        using var pair = new SocketPair(input[1..]);
        using var channel = new PlainClientChannel(pair.Local);
        var handshake = new ClientHandshake(channel, "fuzz");
        try
        {
            handshake.Start();
            switch ((Operation)(input[0] % 4))
            {
                case Operation.Negotiate:
                    handshake.Negotiate("", Options);
                    break;
                case Operation.ListExports:
                    handshake.ListExports();
                    break;
                case Operation.Info:
                    handshake.Info("disk");
                    break;
                default:
                    handshake.ListMetaContexts("", ["base:", "qemu:"]);
                    break;
            }
        }
        catch (NbdException)
        {
        }
        catch (ConnectionClosedException)
        {
        }
    }
}
