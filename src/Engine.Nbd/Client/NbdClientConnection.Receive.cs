using System.Buffers.Binary;
using Engine.Nbd.Protocol;
using Engine.Nbd.Transport;

namespace Engine.Nbd.Client;

/// <summary>Receiving: the reader thread parses reply headers in place and routes each reply to its request by cookie.</summary>
internal sealed partial class NbdClientConnection
{
    private void ReadReplies()
    {
        try
        {
            while (true)
            {
                if (!_channel.TryFill(4, HeaderReadAhead))
                {
                    throw new NbdConnectionException($"{_where}: server closed the connection");
                }

                var magic = BinaryPrimitives.ReadUInt32BigEndian(_channel.Peek(4));
                switch (magic)
                {
                    case NbdMagic.SimpleReply:
                        ReadSimpleReply();
                        break;
                    case NbdMagic.StructuredReply when Export.StructuredReplies && !Export.ExtendedHeaders:
                        ReadChunk(extended: false);
                        break;
                    case NbdMagic.ExtendedReply when Export.ExtendedHeaders:
                        ReadChunk(extended: true);
                        break;
                    default:
                        throw Protocol($"unexpected reply magic 0x{magic:x8}");
                }
            }
        }
        catch (ConnectionClosedException ex)
        {
            Break(new NbdConnectionException($"{_where}: {ex.Message}", ex));
        }
        catch (NbdException ex)
        {
            Break(ex);
        }
        catch (Exception ex)
        {
            Break(new NbdConnectionException($"{_where}: reply handling failed: {ex.Message}", ex));
        }
        finally
        {
            if (_disposeOnExit)
            {
                _channel.Dispose();
                _slots.Dispose();
            }
        }
    }

    private void ReadSimpleReply()
    {
        if (Export.ExtendedHeaders)
        {
            throw Protocol("simple reply under extended headers");
        }

        _channel.Fill(NbdWire.SimpleReplyHeaderLength, HeaderReadAhead);
        var header = _channel.Peek(NbdWire.SimpleReplyHeaderLength);
        var error = (NbdError)BinaryPrimitives.ReadUInt32BigEndian(header[4..]);
        var cookie = BinaryPrimitives.ReadUInt64BigEndian(header[8..]);
        _channel.Consume(NbdWire.SimpleReplyHeaderLength);
        var request = Lookup(cookie);
        if (error != NbdError.None)
        {
            request.Error = ServerError(request, error, null);
        }
        else if (request.Command == NbdCommand.Read)
        {
            if (Export.StructuredReplies)
            {
                throw Protocol("simple reply to a READ after structured replies were negotiated");
            }

            _channel.ReadExact(request.Destination.Span);
        }

        Finish(request);
    }

    private void ReadChunk(bool extended)
    {
        var headerLength = extended ? NbdWire.ExtendedReplyHeaderLength : NbdWire.StructuredReplyHeaderLength;
        _channel.Fill(headerLength, HeaderReadAhead);
        var header = _channel.Peek(headerLength);
        var flags = (ReplyFlags)BinaryPrimitives.ReadUInt16BigEndian(header[4..]);
        var type = (NbdReplyType)BinaryPrimitives.ReadUInt16BigEndian(header[6..]);
        var cookie = BinaryPrimitives.ReadUInt64BigEndian(header[8..]);
        var length = extended ? BinaryPrimitives.ReadUInt64BigEndian(header[24..]) : BinaryPrimitives.ReadUInt32BigEndian(header[16..]);
        _channel.Consume(headerLength);
        var request = Lookup(cookie);
        switch (type)
        {
            case NbdReplyType.None:
                if (length != 0 || !flags.HasFlag(ReplyFlags.Done))
                {
                    throw Protocol("NBD_REPLY_TYPE_NONE with a payload or without DONE");
                }

                break;
            case NbdReplyType.OffsetData when request.Command == NbdCommand.Read:
                ReadData(request, length);
                break;
            case NbdReplyType.OffsetHole when request.Command == NbdCommand.Read:
                ReadHole(request, length);
                break;
            case NbdReplyType.BlockStatus when request.Command == NbdCommand.BlockStatus:
            case NbdReplyType.BlockStatusExtended when request.Command == NbdCommand.BlockStatus && extended:
                ReadStatus(request, length, type == NbdReplyType.BlockStatusExtended);
                break;
            default:
                if (((ushort)type & 0x8000) == 0)
                {
                    throw Protocol($"unexpected chunk type {type} for {request.Command}");
                }

                ReadError(request, length);
                break;
        }

        if (flags.HasFlag(ReplyFlags.Done))
        {
            Finish(request);
        }
    }

    private PendingRequest Lookup(ulong cookie)
    {
        var slot = (int)(cookie & 0xFFFF);
        lock (_stateLock)
        {
            if (slot < _inFlight.Length && _inFlight[slot] is { } request && request.Cookie == cookie)
            {
                return request;
            }
        }

        throw Protocol($"reply for unknown cookie 0x{cookie:x}");
    }

    private void Finish(PendingRequest request)
    {
        lock (_stateLock)
        {
            _inFlight[request.Slot] = null;
        }

        request.Complete();
    }

    private NbdServerErrorException ServerError(PendingRequest request, NbdError error, string? message) =>
        new(error, $"{_where}: {request.Command} at {request.Offset}+{request.Length} failed: {ErrorName(error)}{(message is null ? string.Empty : $" ({message})")}");

    private static string ErrorName(NbdError error) => error switch
    {
        NbdError.Perm => "EPERM",
        NbdError.Io => "EIO",
        NbdError.NoMemory => "ENOMEM",
        NbdError.Invalid => "EINVAL",
        NbdError.NoSpace => "ENOSPC",
        NbdError.Overflow => "EOVERFLOW",
        NbdError.NotSupported => "ENOTSUP",
        NbdError.Shutdown => "ESHUTDOWN",
        _ => $"error {(uint)error}",
    };

    private NbdConnectionException Protocol(string message) => new($"{_where}: protocol violation: {message}");
}
