using System.Net.Sockets;
using Engine.Blocks.Native;

namespace Engine.Nbd.Transport.Tls.Psk;

/// <summary>
/// The client side of TLS with pre-shared keys (libnbd's <c>tls-psk-file</c>, with the URI's user as the identity),
/// through OpenSSL. PSK authenticates both ends by the key alone: there is no certificate, so the host name passed to
/// <see cref="ConnectAsync"/> is not checked. Dispose it when no more connections are made.
/// </summary>
public sealed class PskTlsClient : INbdTlsClient, IDisposable
{
    private readonly string _identity;
    private readonly byte[] _key;
    private readonly SslContextHandle _context;

    /// <summary>Creates a client that authenticates as <paramref name="identity"/> with <paramref name="key"/>.</summary>
    /// <exception cref="NbdTlsException">OpenSSL (libssl3) is missing or refused the settings.</exception>
    public PskTlsClient(string identity, ReadOnlySpan<byte> key)
    {
        ArgumentException.ThrowIfNullOrEmpty(identity);
        if (key.IsEmpty || key.Length > PskKeyFile.MaxKeyBytes)
        {
            throw new NbdTlsException($"the PSK key of '{identity}' must be 1 to {PskKeyFile.MaxKeyBytes} bytes");
        }

        if (System.Text.Encoding.UTF8.GetByteCount(identity) > PskKeyFile.MaxIdentityBytes)
        {
            throw new NbdTlsException($"the PSK identity '{identity}' is longer than {PskKeyFile.MaxIdentityBytes} bytes");
        }

        _identity = identity;
        _key = key.ToArray();
        _context = PskLibrary.CreateContext(server: false);
    }

    /// <summary>Creates a client that authenticates as <paramref name="identity"/> with that user's key in <paramref name="keys"/>.</summary>
    /// <exception cref="NbdTlsException">The user is not in the file, or OpenSSL is missing.</exception>
    public PskTlsClient(PskKeyFile keys, string identity)
        : this(identity, KeyOf(keys, identity))
    {
    }

    /// <inheritdoc/>
    public async ValueTask<TlsSession> ConnectAsync(Socket socket, string? hostname, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var state = new PskHandshakeState { ClientIdentity = _identity, ClientKey = _key };
        var stream = new PskTlsStream(socket, _context, state);
        try
        {
            var failure = await stream.HandshakeAsync(server: false, cancellationToken).ConfigureAwait(false);
            if (failure is not null)
            {
                throw new NbdTlsException($"PSK handshake as '{_identity}' failed: the server refused the identity or the key (wrong key?): {failure}");
            }

            return new TlsSession(stream, new TlsPeer(null, null, _identity), stream.Protocol, "psk");
        }
        catch
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Frees the OpenSSL context and wipes the client's copy of the key; sessions already connected keep working.</summary>
    public void Dispose()
    {
        _context.Dispose();
        System.Security.Cryptography.CryptographicOperations.ZeroMemory(_key);
    }

    private static byte[] KeyOf(PskKeyFile keys, string identity)
    {
        ArgumentNullException.ThrowIfNull(keys);
        return keys.TryGetKey(identity, out var key) ? key : throw new NbdTlsException($"PSK identity '{identity}' is not in {keys.Path}");
    }
}
