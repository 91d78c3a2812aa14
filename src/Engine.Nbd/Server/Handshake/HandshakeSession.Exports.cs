using System.Buffers.Binary;
using System.Text;
using Engine.Nbd.Protocol;
using Engine.Nbd.Transport;

namespace Engine.Nbd.Server.Handshake;

/// <summary>Export selection: NBD_OPT_EXPORT_NAME, NBD_OPT_LIST, NBD_OPT_INFO and NBD_OPT_GO.</summary>
internal sealed partial class HandshakeSession
{
    private Outcome HandleExportName(ReadOnlySpan<byte> data)
    {
        if (_extended)
        {
            throw new ConnectionClosedException("EXPORT_NAME after extended headers were negotiated", reason: ConnectionCloseReason.ProtocolError);
        }

        string name;
        try
        {
            name = StrictUtf8.GetString(data);
        }
        catch (DecoderFallbackException)
        {
            throw new ConnectionClosedException("EXPORT_NAME is not valid UTF-8", reason: ConnectionCloseReason.ProtocolError);
        }

        // EXPORT_NAME has no error reply: an unknown export can only be answered by closing.
        var export = FindAdmittedExport(name, out var refused);
        if (refused)
        {
            throw new ConnectionClosedException($"export '{name}' does not admit {Client}", reason: ConnectionCloseReason.AccessDenied);
        }

        if (export is null)
        {
            throw new ConnectionClosedException($"client asked for unknown export '{name}'", reason: ConnectionCloseReason.UnknownExport);
        }

        var flags = ExportFlags.For(export, _structured || _extended);
        Span<byte> reply = stackalloc byte[10 + 124];
        reply.Clear();
        BinaryPrimitives.WriteInt64BigEndian(reply, export.Device.Size);
        BinaryPrimitives.WriteUInt16BigEndian(reply[8..], (ushort)flags);
        EnterTransmission();
        _transport.Send(_noZeroes ? reply[..10] : reply);
        _result = Finish(export, name, flags);
        return Outcome.Transmission;
    }

    private void HandleList(NbdOption option, ReadOnlySpan<byte> data)
    {
        if (data.Length != 0)
        {
            SendError(option, NbdOptionReply.ErrInvalid, "LIST takes no data");
            return;
        }

        var exports = new List<NbdExport>();
        server.ListExports(exports);
        foreach (var export in exports)
        {
            if (!IsAdmitted(export))
            {
                continue;
            }

            // The bytes after the name are free-form details; clients such as nbdinfo show them as the description.
            var name = Encoding.UTF8.GetBytes(export.Name);
            var description = export.Description is null ? [] : Encoding.UTF8.GetBytes(export.Description);
            var payload = new byte[4 + name.Length + description.Length];
            BinaryPrimitives.WriteUInt32BigEndian(payload, (uint)name.Length);
            name.CopyTo(payload, 4);
            description.CopyTo(payload, 4 + name.Length);
            SendReply(option, NbdOptionReply.Server, payload);
        }

        SendAck(option);
    }

    private Outcome HandleInfoOrGo(NbdOption option, ReadOnlySpan<byte> data)
    {
        var position = 0;
        var name = ReadString(data, ref position);
        if (name is null || data.Length - position < 2)
        {
            SendError(option, NbdOptionReply.ErrInvalid, "malformed export name");
            return Outcome.Continue;
        }

        var requestCount = BinaryPrimitives.ReadUInt16BigEndian(data[position..]);
        position += 2;
        if (data.Length - position != requestCount * 2)
        {
            SendError(option, NbdOptionReply.ErrInvalid, "information request count does not match the option length");
            return Outcome.Continue;
        }

        var export = FindAdmittedExport(name, out var refused);
        if (refused)
        {
            SendAccessRefused(option, name);
            return Outcome.Continue;
        }

        if (export is null)
        {
            SendError(option, NbdOptionReply.ErrUnknown, $"export '{name}' not found");
            return Outcome.Continue;
        }

        var wantName = false;
        var wantDescription = false;
        for (var i = 0; i < requestCount; i++)
        {
            switch ((NbdInfo)BinaryPrimitives.ReadUInt16BigEndian(data[(position + (2 * i))..]))
            {
                case NbdInfo.Name:
                    wantName = true;
                    break;
                case NbdInfo.Description:
                    wantDescription = true;
                    break;
                default:
                    // EXPORT and BLOCK_SIZE are always sent; unknown requests are ignored, as the spec asks.
                    break;
            }
        }

        var flags = ExportFlags.For(export, _structured || _extended);
        Span<byte> info = stackalloc byte[14];
        BinaryPrimitives.WriteUInt16BigEndian(info, (ushort)NbdInfo.Export);
        BinaryPrimitives.WriteInt64BigEndian(info[2..], export.Device.Size);
        BinaryPrimitives.WriteUInt16BigEndian(info[10..], (ushort)flags);
        SendReply(option, NbdOptionReply.Info, info[..12]);

        if (wantName)
        {
            SendInfoText(option, NbdInfo.Name, export.Name);
        }

        if (wantDescription && export.Description is not null)
        {
            SendInfoText(option, NbdInfo.Description, export.Description);
        }

        var minimum = (uint)export.Device.MinimumBlockSize;
        var preferred = (uint)Math.Max(Math.Max(export.Device.PreferredBlockSize, 512), (int)minimum);
        var maximum = (uint)Math.Max(_options.MaxPayload, (int)preferred);
        Span<byte> blockSize = stackalloc byte[14];
        BinaryPrimitives.WriteUInt16BigEndian(blockSize, (ushort)NbdInfo.BlockSize);
        BinaryPrimitives.WriteUInt32BigEndian(blockSize[2..], minimum);
        BinaryPrimitives.WriteUInt32BigEndian(blockSize[6..], preferred);
        BinaryPrimitives.WriteUInt32BigEndian(blockSize[10..], maximum);
        SendReply(option, NbdOptionReply.Info, blockSize);
        if (option == NbdOption.Info)
        {
            SendAck(option);
            return Outcome.Continue;
        }

        EnterTransmission();
        SendAck(option);
        _result = Finish(export, name, flags);
        return Outcome.Transmission;
    }

    private void SendInfoText(NbdOption option, NbdInfo type, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var payload = new byte[2 + bytes.Length];
        BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)type);
        bytes.CopyTo(payload, 2);
        SendReply(option, NbdOptionReply.Info, payload);
    }

    private NegotiatedSession Finish(NbdExport export, string requestedName, TransmissionFlags flags)
    {
        // Contexts selected for another export name do not carry over (the spec ties them to the name used for GO).
        var contexts = string.Equals(_selectedContextsExport, requestedName, StringComparison.Ordinal)
            ? _selectedContexts.ToArray()
            : [];
        return new NegotiatedSession(export, flags, _structured, _extended, contexts);
    }
}
