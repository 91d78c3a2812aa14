using System.Buffers.Binary;
using System.Text;
using Engine.Nbd.Protocol;
using Engine.Nbd.Transport;

namespace Engine.Nbd.Client;

/// <summary>
/// The client side of the fixed-newstyle handshake, with blocking I/O on a fresh connection: greeting, extended
/// headers or structured replies, meta contexts, then NBD_OPT_GO (falling back to NBD_OPT_EXPORT_NAME). Under TLS,
/// NBD_OPT_STARTTLS comes first and everything after it goes through the TLS channel.
/// </summary>
internal sealed class ClientHandshake(IClientChannel channel, string where)
{
    private const uint MaxReplyLength = 1 << 20;
    private const ulong OldstyleMagic = 0x00420281861253;

    private IClientChannel _channel = channel;
    private bool _noZeroes;

    /// <summary>Reads the greeting and sends the client flags.</summary>
    public void Start()
    {
        _channel.Fill(18);
        var header = _channel.Peek(18);
        var password = BinaryPrimitives.ReadUInt64BigEndian(header);
        var magic = BinaryPrimitives.ReadUInt64BigEndian(header[8..]);
        if (password != NbdMagic.InitPassword)
        {
            throw Fail("the peer is not an NBD server (no NBDMAGIC)");
        }

        if (magic == OldstyleMagic)
        {
            throw Fail("the server speaks oldstyle negotiation, which is not supported");
        }

        if (magic != NbdMagic.IHaveOpt)
        {
            throw Fail($"bad handshake magic 0x{magic:x16}");
        }

        var flags = (HandshakeFlags)BinaryPrimitives.ReadUInt16BigEndian(header[16..]);
        _channel.Consume(18);
        if (!flags.HasFlag(HandshakeFlags.FixedNewstyle))
        {
            throw Fail("the server does not speak fixed newstyle negotiation");
        }

        _noZeroes = flags.HasFlag(HandshakeFlags.NoZeroes);
        Span<byte> clientFlags = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(clientFlags, (uint)(ClientFlags.FixedNewstyle | (_noZeroes ? ClientFlags.NoZeroes : 0)));
        _channel.Send(clientFlags);
    }

    /// <summary>
    /// NBD_OPT_STARTTLS, before any other option so that nothing about the exports travels in clear. The reply is
    /// received without read-ahead: bytes after it belong to the TLS handshake and must not sit in the plain buffer.
    /// </summary>
    /// <exception cref="NbdException">The server refused TLS.</exception>
    public void StartTls()
    {
        SendOption(NbdOption.StartTls, []);
        var (type, payload) = ReadReply(NbdOption.StartTls, readAhead: 0);
        switch (type)
        {
            case NbdOptionReply.Ack:
                return;
            case NbdOptionReply.ErrPolicy or NbdOptionReply.ErrUnsupported or NbdOptionReply.ErrInvalid:
                throw Fail($"the server does not offer TLS (it answered NBD_OPT_STARTTLS with {type}{Message(payload)}); use nbd:// or nbd+unix:// for a plaintext server");
            default:
                throw Fail($"unexpected reply {type} to NBD_OPT_STARTTLS{Message(payload)}");
        }
    }

    /// <summary>Continues the handshake over <paramref name="tls"/> once the TLS session is up.</summary>
    public void UseChannel(IClientChannel tls) => _channel = tls;

    /// <summary>Negotiates and enters transmission for <paramref name="exportName"/>.</summary>
    public NbdExportInfo Negotiate(string exportName, NbdClientOptions options)
    {
        var extended = options.ExtendedHeaders && SimpleOption(NbdOption.ExtendedHeaders);
        var structured = extended || (options.StructuredReplies && SimpleOption(NbdOption.StructuredReply));
        var contexts = new Dictionary<string, uint>(StringComparer.Ordinal);
        IReadOnlyList<string> available = [];
        if (structured && options.ListMetaContexts)
        {
            available = [.. MetaContextOption(NbdOption.ListMetaContext, exportName, []).Select(c => c.Name)];
        }

        if (structured)
        {
            var wanted = new List<string> { NbdWire.BaseAllocation };
            foreach (var name in options.MetaContexts)
            {
                if (!wanted.Contains(name))
                {
                    wanted.Add(name);
                }
            }

            foreach (var (id, name) in MetaContextOption(NbdOption.SetMetaContext, exportName, wanted))
            {
                contexts[name] = id;
            }
        }

        var info = Go(exportName, extended, structured, contexts);
        info.AvailableMetaContexts = available;
        return info;
    }

    /// <summary>NBD_OPT_LIST: the server's exports.</summary>
    public List<NbdExportListing> ListExports()
    {
        SendOption(NbdOption.List, []);
        var result = new List<NbdExportListing>();
        while (true)
        {
            var (type, payload) = ReadReply(NbdOption.List);
            if (type == NbdOptionReply.Ack)
            {
                return result;
            }

            if (type != NbdOptionReply.Server || payload.Length < 4)
            {
                throw Fail($"unexpected reply {type} to NBD_OPT_LIST");
            }

            var length = BinaryPrimitives.ReadUInt32BigEndian(payload);
            if (length > payload.Length - 4)
            {
                throw Fail("NBD_REP_SERVER name overruns its reply");
            }

            var name = Encoding.UTF8.GetString(payload, 4, (int)length);
            var rest = payload.Length - 4 - (int)length;
            result.Add(new NbdExportListing(name, rest > 0 ? Encoding.UTF8.GetString(payload, 4 + (int)length, rest) : null));
        }
    }

    /// <summary>NBD_OPT_LIST_META_CONTEXT for <paramref name="exportName"/> (structured replies are negotiated first).</summary>
    public List<string> ListMetaContexts(string exportName, IReadOnlyList<string> queries)
    {
        if (!SimpleOption(NbdOption.StructuredReply))
        {
            return [];
        }

        return [.. MetaContextOption(NbdOption.ListMetaContext, exportName, queries).Select(c => c.Name)];
    }

    /// <summary>NBD_OPT_INFO: the export's details without entering transmission.</summary>
    public NbdExportInfo Info(string exportName) => InfoOrGo(NbdOption.Info, exportName, false, false, new Dictionary<string, uint>())
        ?? throw Fail("the server does not support NBD_OPT_INFO");

    /// <summary>NBD_OPT_ABORT, ignoring whether the server answers.</summary>
    public void Abort()
    {
        try
        {
            SendOption(NbdOption.Abort, []);
            ReadReply(NbdOption.Abort);
        }
        catch (IOException)
        {
            // Servers may close straight away; either way the session is over.
        }
    }

    private NbdExportInfo Go(string exportName, bool extended, bool structured, Dictionary<string, uint> contexts)
    {
        var info = InfoOrGo(NbdOption.Go, exportName, extended, structured, contexts);
        if (info is not null)
        {
            return info;
        }

        if (extended)
        {
            throw Fail("the server negotiated extended headers but does not support NBD_OPT_GO");
        }

        // An old server: EXPORT_NAME has no error reply, so an unknown export shows up as a closed connection.
        SendOption(NbdOption.ExportName, Encoding.UTF8.GetBytes(exportName));
        var length = _noZeroes ? 10 : 134;
        try
        {
            _channel.Fill(length);
        }
        catch (ConnectionClosedException)
        {
            throw Fail($"the server closed the connection: export '{exportName}' probably does not exist");
        }

        var reply = _channel.Peek(length);
        var size = BinaryPrimitives.ReadInt64BigEndian(reply);
        var flags = (TransmissionFlags)BinaryPrimitives.ReadUInt16BigEndian(reply[8..]);
        _channel.Consume(length);
        return new NbdExportInfo
        {
            Name = exportName,
            Size = size,
            Flags = flags,
            StructuredReplies = structured,
            MetaContexts = contexts,
            UsedExportName = true,
        };
    }

    /// <summary>Runs INFO or GO; null when the server does not know the option.</summary>
    private NbdExportInfo? InfoOrGo(NbdOption option, string exportName, bool extended, bool structured, Dictionary<string, uint> contexts)
    {
        var name = Encoding.UTF8.GetBytes(exportName);
        var data = new byte[4 + name.Length + 2 + 4];
        BinaryPrimitives.WriteUInt32BigEndian(data, (uint)name.Length);
        name.CopyTo(data, 4);
        BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(4 + name.Length), 2);
        BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(6 + name.Length), (ushort)NbdInfo.Description);
        BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(8 + name.Length), (ushort)NbdInfo.BlockSize);
        SendOption(option, data);

        long? size = null;
        var flags = TransmissionFlags.None;
        string? description = null;
        int minimum = 1, preferred = 4096, maximum = NbdWire.DefaultMaxPayload;
        while (true)
        {
            var (type, payload) = ReadReply(option);
            switch (type)
            {
                case NbdOptionReply.Ack:
                    if (size is null)
                    {
                        throw Fail($"NBD_OPT_{option} succeeded without NBD_INFO_EXPORT");
                    }

                    return new NbdExportInfo
                    {
                        Name = exportName,
                        Size = size.Value,
                        Flags = flags,
                        Description = description,
                        MinimumBlockSize = minimum,
                        PreferredBlockSize = preferred,
                        MaximumPayload = maximum,
                        StructuredReplies = structured,
                        ExtendedHeaders = extended,
                        MetaContexts = contexts,
                    };
                case NbdOptionReply.Info when payload.Length >= 2:
                    var info = (NbdInfo)BinaryPrimitives.ReadUInt16BigEndian(payload);
                    if (info == NbdInfo.Export && payload.Length == 12)
                    {
                        size = BinaryPrimitives.ReadInt64BigEndian(payload.AsSpan(2));
                        flags = (TransmissionFlags)BinaryPrimitives.ReadUInt16BigEndian(payload.AsSpan(10));
                    }
                    else if (info == NbdInfo.Description)
                    {
                        description = Encoding.UTF8.GetString(payload, 2, payload.Length - 2);
                    }
                    else if (info == NbdInfo.BlockSize && payload.Length == 14)
                    {
                        minimum = (int)Math.Clamp(BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(2)), 1u, 1u << 16);
                        preferred = (int)Math.Clamp(BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(6)), (uint)minimum, 1u << 25);
                        maximum = (int)Math.Clamp(BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(10)), (uint)preferred, (uint)NbdWire.DefaultMaxPayload * 2);
                    }

                    break;
                case NbdOptionReply.ErrUnsupported:
                    return null;
                case NbdOptionReply.ErrUnknown:
                    // Servers (ours among them) often say just that; repeating it adds nothing.
                    var notFound = $"export '{exportName}' not found";
                    throw Fail(Encoding.UTF8.GetString(payload) == notFound ? notFound : notFound + Message(payload));
                default:
                    throw Fail($"NBD_OPT_{option} for export '{exportName}' failed with {type}{Message(payload)}");
            }
        }
    }

    private List<(uint Id, string Name)> MetaContextOption(NbdOption option, string exportName, IReadOnlyList<string> queries)
    {
        var name = Encoding.UTF8.GetBytes(exportName);
        var encoded = queries.Select(Encoding.UTF8.GetBytes).ToList();
        var data = new byte[4 + name.Length + 4 + encoded.Sum(q => 4 + q.Length)];
        BinaryPrimitives.WriteUInt32BigEndian(data, (uint)name.Length);
        name.CopyTo(data, 4);
        var position = 4 + name.Length;
        BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(position), (uint)encoded.Count);
        position += 4;
        foreach (var query in encoded)
        {
            BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(position), (uint)query.Length);
            query.CopyTo(data, position + 4);
            position += 4 + query.Length;
        }

        SendOption(option, data);
        var result = new List<(uint Id, string Name)>();
        while (true)
        {
            var (type, payload) = ReadReply(option);
            if (type == NbdOptionReply.Ack)
            {
                return result;
            }

            if (type == NbdOptionReply.MetaContext && payload.Length >= 4)
            {
                result.Add((BinaryPrimitives.ReadUInt32BigEndian(payload), Encoding.UTF8.GetString(payload, 4, payload.Length - 4)));
                continue;
            }

            if (((uint)type & 0x8000_0000) != 0)
            {
                // Servers without meta contexts refuse the option; the client then simply has none.
                return [];
            }

            throw Fail($"unexpected reply {type} to NBD_OPT_{option}");
        }
    }

    /// <summary>Sends an option without data and reports whether the server acknowledged it.</summary>
    private bool SimpleOption(NbdOption option)
    {
        SendOption(option, []);
        var (type, _) = ReadReply(option);
        return type == NbdOptionReply.Ack;
    }

    private void SendOption(NbdOption option, ReadOnlySpan<byte> data)
    {
        var message = new byte[NbdWire.OptionHeaderLength + data.Length];
        BinaryPrimitives.WriteUInt64BigEndian(message, NbdMagic.IHaveOpt);
        BinaryPrimitives.WriteUInt32BigEndian(message.AsSpan(8), (uint)option);
        BinaryPrimitives.WriteUInt32BigEndian(message.AsSpan(12), (uint)data.Length);
        data.CopyTo(message.AsSpan(16));
        _channel.Send(message);
    }

    private (NbdOptionReply Type, byte[] Payload) ReadReply(NbdOption option, int readAhead = 64 << 10)
    {
        _channel.Fill(NbdWire.OptionReplyHeaderLength, readAhead);
        var header = _channel.Peek(NbdWire.OptionReplyHeaderLength);
        var magic = BinaryPrimitives.ReadUInt64BigEndian(header);
        var replyOption = (NbdOption)BinaryPrimitives.ReadUInt32BigEndian(header[8..]);
        var type = (NbdOptionReply)BinaryPrimitives.ReadUInt32BigEndian(header[12..]);
        var length = BinaryPrimitives.ReadUInt32BigEndian(header[16..]);
        _channel.Consume(NbdWire.OptionReplyHeaderLength);
        if (magic != NbdMagic.OptionReply)
        {
            throw Fail($"bad option reply magic 0x{magic:x16}");
        }

        if (replyOption != option)
        {
            throw Fail($"reply for option {replyOption} while waiting for {option}");
        }

        if (length > MaxReplyLength)
        {
            throw Fail($"option reply of {length} bytes is too large");
        }

        var payload = new byte[length];
        _channel.ReadExact(payload);
        if (type == NbdOptionReply.ErrTlsRequired)
        {
            throw Fail($"the server requires TLS (it answered NBD_OPT_{option} with NBD_REP_ERR_TLS_REQD{Message(payload)}): use nbds:// or nbds+unix://");
        }

        return (type, payload);
    }

    private static string Message(byte[] payload) => payload.Length > 0 ? $": {Encoding.UTF8.GetString(payload)}" : string.Empty;

    private NbdException Fail(string message) => new($"{where}: {message}");
}
