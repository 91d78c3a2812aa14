using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Engine.Blocks;
using Engine.Nbd.Transport;
using Engine.Nbd.Transport.Tls;

namespace Engine.Nbd.Client;

/// <summary>
/// Opens the socket to an NBD URI and reads the server's greeting. Nothing listening fails at once, with a message
/// naming the socket or address; only <see cref="NbdClientOptions.ConnectTimeout"/> makes it retry, for a server
/// that is still starting. Every attempt is bounded, so an address that never answers cannot hang the caller.
/// </summary>
internal static class NbdConnector
{
    private static readonly TimeSpan RetryInterval = TimeSpan.FromMilliseconds(100);

    /// <exception cref="NbdConnectException">Nothing could be reached within the timeouts.</exception>
    public static async Task<PlainClientChannel> OpenAsync(NbdUri uri, NbdClientOptions options, CancellationToken cancellationToken)
    {
        HandshakeTimeouts.Check(options.HandshakeTimeout, nameof(options));

        var clock = Stopwatch.StartNew();
        while (true)
        {
            Socket? socket = null;
            using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            attempt.CancelAfter(options.HandshakeTimeout);
            try
            {
                socket = await ConnectOnceAsync(uri, attempt.Token).ConfigureAwait(false);
                var channel = new PlainClientChannel(socket);
                channel.SetReceiveTimeout(options.HandshakeTimeout);
                return channel;
            }
            catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
            {
                socket?.Dispose();
                throw new NbdConnectException(uri, $"{uri}: cannot connect: {uri.Endpoint} did not answer within {Seconds(options.HandshakeTimeout)}", ex);
            }
            catch (SocketException ex) when (IsNotListeningYet(ex) && clock.Elapsed < options.ConnectTimeout)
            {
                socket?.Dispose();
                await Task.Delay(RetryInterval, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException ex)
            {
                socket?.Dispose();
                var waited = options.ConnectTimeout > TimeSpan.Zero ? $" (retried for {Seconds(options.ConnectTimeout)})" : string.Empty;
                throw new NbdConnectException(uri, $"{uri}: cannot connect: {Reason(uri, ex)}{waited}", ex);
            }
        }
    }

    /// <summary>
    /// Opens a connection, greets (with STARTTLS under nbds://) and runs <paramref name="negotiate"/> on a worker
    /// thread, the handshake being blocking I/O. Returns its result and the channel to go on with; on failure the
    /// channel is closed.
    /// </summary>
    /// <exception cref="NbdConnectException">The server could not be reached, or hung up before its greeting.</exception>
    /// <exception cref="NbdException">The handshake failed; the message says why.</exception>
    public static async Task<(T Result, IClientChannel Channel)> NegotiateAsync<T>(NbdUri uri, NbdClientOptions options, Func<ClientHandshake, T> negotiate, CancellationToken cancellationToken)
    {
        // Credentials first: a missing certificate file is reported before any connection is made.
        var tls = uri.Tls ? NbdTlsClients.For(uri) : null;

        // A PSK client holds an OpenSSL context; the session it makes keeps its own reference, so it can go after the handshake.
        using var credentials = tls as IDisposable;
        var plain = await OpenAsync(uri, options, cancellationToken).ConfigureAwait(false);
        IClientChannel channel = plain;
        try
        {
            (var handshake, channel) = await StartHandshakeAsync(plain, uri, tls, options, cancellationToken).ConfigureAwait(false);
            var result = await Task.Run(() => negotiate(handshake), cancellationToken).ConfigureAwait(false);
            return (result, channel);
        }
        catch (ConnectionClosedException ex)
        {
            channel.Dispose();

            // A server that wants a client certificate (nbdkit --tls-verify-peer) ends the session right after the
            // TLS handshake, which under TLS 1.3 the client only sees here.
            var hint = channel is TlsClientChannel
                ? $" (the server ended the TLS session: if it requires a client certificate, put client-cert.pem and client-key.pem in the tls-certificates directory{(uri.TlsCertificates is null ? string.Empty : $" {uri.TlsCertificates}")})"
                : string.Empty;
            throw new NbdConnectionException($"{uri}: handshake failed: {ex.Message}{hint}", ex);
        }
        catch
        {
            channel.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads the greeting and sends the client flags; a server that hangs up first is unreachable, not broken. Under
    /// nbds:// it then runs NBD_OPT_STARTTLS and the TLS handshake, and the handshake goes on over TLS. Returns the
    /// channel the connection now talks through (the caller disposes it; a TLS channel closes the socket too).
    /// </summary>
    /// <exception cref="NbdConnectException">The server closed the connection, or sent nothing, before its greeting.</exception>
    /// <exception cref="NbdException">The server refused TLS, or the TLS handshake failed (the message says why).</exception>
    private static async Task<(ClientHandshake Handshake, IClientChannel Channel)> StartHandshakeAsync(PlainClientChannel plain, NbdUri uri, INbdTlsClient? tls, NbdClientOptions options, CancellationToken cancellationToken)
    {
        var handshake = new ClientHandshake(plain, uri.ToString());
        try
        {
            await Task.Run(handshake.Start, cancellationToken).ConfigureAwait(false);
        }
        catch (ConnectionClosedException ex)
        {
            // A server at its connection cap, or one dropping the client at its handshake deadline, closes here.
            throw new NbdConnectException(uri, $"{uri}: the server at {uri.Endpoint} closed the connection before the handshake: {ex.Message}", ex);
        }

        if (tls is null)
        {
            return (handshake, plain);
        }

        await Task.Run(handshake.StartTls, cancellationToken).ConfigureAwait(false);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(options.HandshakeTimeout);
        TlsSession session;
        try
        {
            session = await tls.ConnectAsync(plain.Socket, uri.TlsVerifyPeer ? uri.TlsCheckedHostname : null, deadline.Token).ConfigureAwait(false);
        }
        catch (NbdTlsException ex)
        {
            throw new NbdException($"{uri}: TLS handshake failed: {ex.Message}", ex);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new NbdException($"{uri}: TLS handshake failed: the server did not answer within {Seconds(options.HandshakeTimeout)}", ex);
        }

        var channel = new TlsClientChannel(plain, session);
        handshake.UseChannel(channel);
        return (handshake, channel);
    }

    private static async Task<Socket> ConnectOnceAsync(NbdUri uri, CancellationToken cancellationToken)
    {
        if (uri.SocketPath is not null)
        {
            var unix = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await unix.ConnectAsync(new UnixDomainSocketEndPoint(uri.SocketPath), cancellationToken).ConfigureAwait(false);
                return unix;
            }
            catch
            {
                unix.Dispose();
                throw;
            }
        }

        var addresses = await Dns.GetHostAddressesAsync(uri.Host!, cancellationToken).ConfigureAwait(false);
        if (addresses.Length == 0)
        {
            throw new SocketException((int)SocketError.HostNotFound);
        }

        var tcp = new Socket(addresses[0].AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await tcp.ConnectAsync(new IPEndPoint(addresses[0], uri.Port), cancellationToken).ConfigureAwait(false);
            return tcp;
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
    }

    /// <summary>Nothing listens yet: refused, or the socket file is not there. Worth retrying for a starting server.</summary>
    private static bool IsNotListeningYet(SocketException ex) =>
        ex.SocketErrorCode is SocketError.ConnectionRefused or SocketError.AddressNotAvailable or SocketError.TryAgain || ex.ErrorCode == Errno.ENOENT;

    private static string Reason(NbdUri uri, SocketException ex)
    {
        if (uri.SocketPath is { } path)
        {
            return ex.SocketErrorCode switch
            {
                _ when ex.ErrorCode == Errno.ENOENT || ex.SocketErrorCode == SocketError.AddressNotAvailable => $"socket {path} does not exist",
                SocketError.ConnectionRefused => $"nothing is listening on socket {path}",
                SocketError.AccessDenied => $"permission denied on socket {path}",
                _ => $"socket {path}: {SocketErrors.Describe(ex)}",
            };
        }

        return ex.SocketErrorCode switch
        {
            SocketError.ConnectionRefused => $"nothing is listening on {uri.Endpoint} (connection refused)",
            SocketError.HostNotFound or SocketError.NoData => $"host '{uri.Host}' not found",
            _ => $"{uri.Endpoint}: {SocketErrors.Describe(ex)}",
        };
    }

    private static string Seconds(TimeSpan time) => $"{time.TotalSeconds:0.###} s";
}
