using Engine.Nbd.Transport;

namespace Engine.Nbd.Client;

/// <summary>The blocking helpers every <see cref="IClientChannel"/> shares.</summary>
internal static class ClientChannelExtensions
{
    /// <summary>Makes <paramref name="count"/> bytes available or throws.</summary>
    public static void Fill(this IClientChannel channel, int count, int readAhead = 64 << 10)
    {
        if (!channel.TryFill(count, readAhead))
        {
            throw new ConnectionClosedException("peer closed the connection", clean: true);
        }
    }
}
