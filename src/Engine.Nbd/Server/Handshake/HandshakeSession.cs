using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Engine.Nbd.Protocol;
using Engine.Nbd.Transport;
using Microsoft.Extensions.Logging;

namespace Engine.Nbd.Server.Handshake;

/// <summary>
/// The fixed-newstyle handshake on one connection: greeting, client flags, then one option at a time until the
/// client enters transmission (GO or EXPORT_NAME), aborts, or breaks the protocol. One partial file per option
/// group. Runs on the connection's reader thread with blocking I/O.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The transport belongs to the connection, which disposes whatever Transport ends up being.")]
internal sealed partial class HandshakeSession(NbdServer server, ConnectionTransport channel, HandshakeClock clock, ILogger logger, string peer, uint? peerUid = null, CancellationToken cancellationToken = default)
{
    /// <summary>Option payloads above this are refused with NBD_REP_ERR_TOO_BIG.</summary>
    private const int MaxOptionLength = 64 << 10;

    /// <summary>Option payloads above this are not even drained: the client is hostile or broken.</summary>
    private const int MaxDrainLength = 16 << 20;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly NbdServerOptions _options = server.Options;
    private readonly List<uint> _selectedContexts = [];
    private byte[] _scratch = new byte[256];
    private bool _structured;
    private bool _extended;
    private bool _noZeroes;
    private string? _selectedContextsExport;
    private NegotiatedSession? _result;
    private ConnectionTransport _transport = channel;

    private enum Outcome
    {
        Continue,
        Abort,
        Transmission,
    }

    /// <summary>
    /// The connection's byte stream: the plain channel it started on, or the TLS session NBD_OPT_STARTTLS set up.
    /// Transmission runs on it, and whoever ends the connection disposes it.
    /// </summary>
    public ConnectionTransport Transport => _transport;

    /// <summary>Runs the handshake. Returns the session to serve, or null if the client aborted.</summary>
    /// <exception cref="ConnectionClosedException">The client left or broke the protocol.</exception>
    public NegotiatedSession? Run()
    {
        SendGreeting();
        _transport.Fill(4);
        var clientFlags = (ClientFlags)BinaryPrimitives.ReadUInt32BigEndian(_transport.Peek(4));
        _transport.Consume(4);
        if (!clientFlags.HasFlag(ClientFlags.FixedNewstyle))
        {
            throw new ConnectionClosedException("client does not speak fixed newstyle", reason: ConnectionCloseReason.ProtocolError);
        }

        if ((clientFlags & ~(ClientFlags.FixedNewstyle | ClientFlags.NoZeroes)) != 0)
        {
            throw new ConnectionClosedException($"client set unknown flags 0x{(uint)clientFlags:x}", reason: ConnectionCloseReason.ProtocolError);
        }

        _noZeroes = clientFlags.HasFlag(ClientFlags.NoZeroes);
        for (var count = 0; ; count++)
        {
            if (count >= _options.MaxOptions)
            {
                throw new ConnectionClosedException($"client sent more than {_options.MaxOptions} options", reason: ConnectionCloseReason.ProtocolError);
            }

            _transport.Fill(NbdWire.OptionHeaderLength);
            var header = _transport.Peek(NbdWire.OptionHeaderLength);
            var magic = BinaryPrimitives.ReadUInt64BigEndian(header);
            var option = (NbdOption)BinaryPrimitives.ReadUInt32BigEndian(header[8..]);
            var length = BinaryPrimitives.ReadUInt32BigEndian(header[12..]);
            _transport.Consume(NbdWire.OptionHeaderLength);
            if (magic != NbdMagic.IHaveOpt)
            {
                throw new ConnectionClosedException($"bad option magic 0x{magic:x16}", reason: ConnectionCloseReason.ProtocolError);
            }

            if (length > MaxOptionLength)
            {
                if (length > MaxDrainLength)
                {
                    throw new ConnectionClosedException($"option {option} claims {length} bytes of data", reason: ConnectionCloseReason.ProtocolError);
                }

                _transport.Skip(length);
                SendError(option, NbdOptionReply.ErrTooBig, "option data too large");
                continue;
            }

            var data = ArrayPool<byte>.Shared.Rent((int)length);
            try
            {
                _transport.ReadExact(data.AsSpan(0, (int)length));
                var outcome = Handle(option, data.AsSpan(0, (int)length));
                if (outcome == Outcome.Abort)
                {
                    return null;
                }

                if (outcome == Outcome.Transmission)
                {
                    return _result;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(data);
            }
        }
    }

    private Outcome Handle(NbdOption option, ReadOnlySpan<byte> data)
    {
        ServerLog.OptionReceived(logger, peer, option, data.Length);
        if (TlsStillRequired(option))
        {
            if (option == NbdOption.ExportName)
            {
                // EXPORT_NAME has no error reply: the spec has the server end the session.
                throw new ConnectionClosedException("client asked for an export in clear text, but TLS is required", reason: ConnectionCloseReason.TlsRequired);
            }

            SendError(option, NbdOptionReply.ErrTlsRequired, "TLS is required: send NBD_OPT_STARTTLS first");
            return Outcome.Continue;
        }

        switch (option)
        {
            case NbdOption.ExportName:
                return HandleExportName(data);
            case NbdOption.Abort:
                // The spec lets the server skip the ACK; sending it keeps clients that wait for it from hanging.
                TrySendAck(option);
                return Outcome.Abort;
            case NbdOption.List:
                HandleList(option, data);
                return Outcome.Continue;
            case NbdOption.Info:
            case NbdOption.Go:
                return HandleInfoOrGo(option, data);
            case NbdOption.StartTls:
                HandleStartTls(option, data);
                return Outcome.Continue;
            case NbdOption.StructuredReply:
            case NbdOption.ExtendedHeaders:
                HandleReplyFormat(option, data);
                return Outcome.Continue;
            case NbdOption.ListMetaContext:
            case NbdOption.SetMetaContext:
                HandleMetaContext(option, data);
                return Outcome.Continue;
            default:
                SendError(option, NbdOptionReply.ErrUnsupported, $"option {(uint)option} is not supported");
                return Outcome.Continue;
        }
    }

    /// <summary>
    /// Called just before the reply that puts the client in transmission: from then on the handshake clock must not
    /// drop it, and a clock that already ran out must not let it in.
    /// </summary>
    private void EnterTransmission()
    {
        if (!clock.TryStop())
        {
            throw new ConnectionClosedException("handshake deadline passed");
        }
    }

    private void SendGreeting()
    {
        Span<byte> greeting = stackalloc byte[18];
        BinaryPrimitives.WriteUInt64BigEndian(greeting, NbdMagic.InitPassword);
        BinaryPrimitives.WriteUInt64BigEndian(greeting[8..], NbdMagic.IHaveOpt);
        BinaryPrimitives.WriteUInt16BigEndian(greeting[16..], (ushort)(HandshakeFlags.FixedNewstyle | HandshakeFlags.NoZeroes));
        _transport.Send(greeting);
    }

    private void SendAck(NbdOption option) => SendReply(option, NbdOptionReply.Ack, []);

    private void TrySendAck(NbdOption option)
    {
        try
        {
            SendAck(option);
        }
        catch (ConnectionClosedException)
        {
            // The client may close right after ABORT without reading the ACK.
        }
    }

    private void SendError(NbdOption option, NbdOptionReply error, string message)
    {
        ServerLog.OptionRefused(logger, peer, option, error, message);
        var bytes = Encoding.UTF8.GetBytes(message);
        SendReply(option, error, bytes);
    }

    private void SendReply(NbdOption option, NbdOptionReply type, ReadOnlySpan<byte> payload)
    {
        var total = NbdWire.OptionReplyHeaderLength + payload.Length;
        if (_scratch.Length < total)
        {
            _scratch = new byte[Math.Max(total, _scratch.Length * 2)];
        }

        var span = _scratch.AsSpan(0, total);
        BinaryPrimitives.WriteUInt64BigEndian(span, NbdMagic.OptionReply);
        BinaryPrimitives.WriteUInt32BigEndian(span[8..], (uint)option);
        BinaryPrimitives.WriteUInt32BigEndian(span[12..], (uint)type);
        BinaryPrimitives.WriteUInt32BigEndian(span[16..], (uint)payload.Length);
        payload.CopyTo(span[20..]);
        _transport.Send(span);
    }

    /// <summary>Reads a length-prefixed UTF-8 string; null if it does not fit or is not valid UTF-8.</summary>
    private static string? ReadString(ReadOnlySpan<byte> data, ref int position)
    {
        if (data.Length - position < 4)
        {
            return null;
        }

        var length = BinaryPrimitives.ReadUInt32BigEndian(data[position..]);
        if (length > NbdWire.MaxStringLength || length > (uint)(data.Length - position - 4))
        {
            return null;
        }

        try
        {
            var text = StrictUtf8.GetString(data.Slice(position + 4, (int)length));
            position += 4 + (int)length;
            return text.Contains('\0', StringComparison.Ordinal) ? null : text;
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }
}
