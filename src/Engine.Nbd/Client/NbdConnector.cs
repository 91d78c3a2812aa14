using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Engine.Blocks;
using Engine.Nbd.Transport;

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
    public static async Task<SocketChannel> OpenAsync(NbdUri uri, NbdClientOptions options, CancellationToken cancellationToken)
    {
        if (uri.Tls)
        {
            throw new NbdException($"{uri}: TLS not supported yet");
        }

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
                var channel = new SocketChannel(socket);
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

    /// <summary>Reads the greeting and sends the client flags; a server that hangs up first is unreachable, not broken.</summary>
    /// <exception cref="NbdConnectException">The server closed the connection, or sent nothing, before its greeting.</exception>
    public static ClientHandshake StartHandshake(SocketChannel channel, NbdUri uri)
    {
        var handshake = new ClientHandshake(channel, uri.ToString());
        try
        {
            handshake.Start();
        }
        catch (ConnectionClosedException ex)
        {
            // A server at its connection cap, or one dropping the client at its handshake deadline, closes here.
            throw new NbdConnectException(uri, $"{uri}: the server at {uri.Endpoint} closed the connection before the handshake: {ex.Message}", ex);
        }

        return handshake;
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
