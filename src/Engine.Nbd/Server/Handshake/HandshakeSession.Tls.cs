using Engine.Nbd.Protocol;
using Engine.Nbd.Server.Access;
using Engine.Nbd.Transport;
using Engine.Nbd.Transport.Tls;

namespace Engine.Nbd.Server.Handshake;

/// <summary>NBD_OPT_STARTTLS, the TLS-required gate, and who the client is for access control.</summary>
internal sealed partial class HandshakeSession
{
    private bool TlsActive => _transport is TlsChannel;

    /// <summary>Who the client is: its TLS identity once TLS is up, and its uid on a Unix socket.</summary>
    private ClientIdentity Client => new((_transport as TlsChannel)?.Peer, peerUid);

    /// <summary>
    /// Under <see cref="NbdTlsMode.Require"/> (the spec's FORCEDTLS) every option but STARTTLS and ABORT is refused
    /// with NBD_REP_ERR_TLS_REQD until TLS is up; once it is up, that error is never sent.
    /// </summary>
    private bool TlsStillRequired(NbdOption option) =>
        _options.TlsMode == NbdTlsMode.Require && !TlsActive && option is not (NbdOption.StartTls or NbdOption.Abort);

    private void HandleStartTls(NbdOption option, ReadOnlySpan<byte> data)
    {
        if (data.Length != 0)
        {
            SendError(option, NbdOptionReply.ErrInvalid, "STARTTLS takes no data");
            return;
        }

        if (_options.TlsMode == NbdTlsMode.Off || _options.TlsServer is not { } tls || _transport is not SocketChannel socket)
        {
            SendError(option, NbdOptionReply.ErrPolicy, TlsActive ? "TLS is already active" : "TLS is not enabled on this server");
            return;
        }

        SendAck(option);

        // From the ACK on, everything is TLS; a failed handshake can only end the session (the spec).
        TlsSession session;
        try
        {
            socket.HandOverToAsync();
            session = tls.AcceptAsync(socket.Socket, cancellationToken).AsTask().GetAwaiter().GetResult();
        }
        catch (NbdTlsException ex)
        {
            throw new ConnectionClosedException($"TLS handshake failed: {ex.Message}", reason: ConnectionCloseReason.TlsFailed);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException)
        {
            throw new ConnectionClosedException($"TLS handshake failed: {ex.Message}", reason: ConnectionCloseReason.TlsFailed);
        }

        _transport = new TlsChannel(socket, session);
        ServerLog.TlsEstablished(logger, peer, session.Protocol, session.Authentication, session.Peer.ToString());

        // Nothing negotiated in clear text carries over: a man in the middle may have chosen it.
        _structured = false;
        _extended = false;
        _selectedContexts.Clear();
        _selectedContextsExport = null;
    }

    /// <summary>
    /// The export called <paramref name="name"/> if the client may use it. <paramref name="refused"/> says the
    /// export exists but access control keeps this client out.
    /// </summary>
    private NbdExport? FindAdmittedExport(string name, out bool refused)
    {
        var export = server.FindExport(name);
        refused = export is not null && !IsAdmitted(export);
        return refused ? null : export;
    }

    private bool IsAdmitted(NbdExport export) => export.Access?.Admits(Client) ?? true;

    /// <summary>
    /// Refuses an export this client may not use exactly as if it did not exist: LIST hides it, so any other answer
    /// (ERR_POLICY) would tell a client probing names which exports are there. The log says why, for the admin.
    /// </summary>
    private void SendAccessRefused(NbdOption option, string name)
    {
        ServerLog.AccessRefused(logger, peer, name, Client.ToString());
        SendError(option, NbdOptionReply.ErrUnknown, $"export '{name}' not found");
    }
}
