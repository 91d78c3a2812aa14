using System.Net.Sockets;
using Engine.Blocks.Native;

namespace Engine.Nbd.Transport.Tls.Psk;

/// <summary>
/// The server side of TLS with pre-shared keys (nbdkit's and qemu-nbd's <c>--tls-psk</c>), through OpenSSL: the client
/// names a user of the key file and proves it holds that user's key. The session's <see cref="TlsPeer.PskIdentity"/>
/// is that user name. One instance serves every connection; dispose it when the server stops.
/// </summary>
public sealed class PskTlsServer : INbdTlsServer, IDisposable
{
    private readonly PskKeyFile _keys;
    private readonly SslContextHandle _context;

    /// <summary>Creates the server from a key file read with <see cref="PskKeyFile.Load"/>; the server owns it from now on and wipes it when disposed.</summary>
    /// <exception cref="NbdTlsException">OpenSSL (libssl3) is missing or refused the settings.</exception>
    public PskTlsServer(PskKeyFile keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        _keys = keys;
        _context = PskLibrary.CreateContext(server: true);
    }

    /// <inheritdoc/>
    public async ValueTask<TlsSession> AcceptAsync(Socket socket, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var state = new PskHandshakeState { Keys = _keys };
        var stream = new PskTlsStream(socket, _context, state);
        try
        {
            var failure = await stream.HandshakeAsync(server: true, cancellationToken).ConfigureAwait(false);
            if (failure is not null)
            {
                throw new NbdTlsException(state switch
                {
                    { OfferedIdentity: { } name, IdentityKnown: false } => $"PSK identity '{name}' is not in {_keys.Path}",
                    { OfferedIdentity: { } name } => $"PSK handshake with '{name}' failed: wrong key? ({failure})",
                    _ => $"TLS handshake failed: the client offered no PSK identity ({failure})",
                });
            }

            return new TlsSession(stream, new TlsPeer(null, null, state.OfferedIdentity), stream.Protocol, "psk");
        }
        catch
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Frees the OpenSSL context and wipes the keys (the server owns its key file); sessions already accepted keep working.</summary>
    public void Dispose()
    {
        _context.Dispose();
        _keys.Dispose();
    }
}
