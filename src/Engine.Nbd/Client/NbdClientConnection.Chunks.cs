using System.Buffers.Binary;
using System.Text;
using Engine.Blocks;
using Engine.Nbd.Protocol;

namespace Engine.Nbd.Client;

/// <summary>Structured reply chunks: READ data and holes into the destination, block status into extents, error chunks.</summary>
internal sealed partial class NbdClientConnection
{
    private void ReadData(PendingRequest request, ulong length)
    {
        if (length <= 8 || length - 8 > (ulong)request.Length)
        {
            throw Protocol($"OFFSET_DATA chunk of {length} bytes for a {request.Length}-byte read");
        }

        _channel.Fill(8, 0);
        var offset = BinaryPrimitives.ReadInt64BigEndian(_channel.Peek(8));
        _channel.Consume(8);
        var count = (long)length - 8;
        if (offset < request.Offset || offset + count > request.Offset + request.Length)
        {
            throw Protocol($"OFFSET_DATA at {offset}+{count} outside the read {request.Offset}+{request.Length}");
        }

        _channel.ReadExact(request.Destination.Span.Slice((int)(offset - request.Offset), (int)count));
    }

    private void ReadHole(PendingRequest request, ulong length)
    {
        if (length != 12)
        {
            throw Protocol($"OFFSET_HOLE chunk of {length} bytes");
        }

        _channel.Fill(12);
        var offset = BinaryPrimitives.ReadInt64BigEndian(_channel.Peek(12));
        var size = BinaryPrimitives.ReadUInt32BigEndian(_channel.Peek(12)[8..]);
        _channel.Consume(12);
        if (size == 0 || offset < request.Offset || offset + size > request.Offset + request.Length)
        {
            throw Protocol($"OFFSET_HOLE at {offset}+{size} outside the read {request.Offset}+{request.Length}");
        }

        request.Destination.Span.Slice((int)(offset - request.Offset), (int)size).Clear();
    }

    private void ReadStatus(PendingRequest request, ulong length, bool wide)
    {
        var headerSize = wide ? 8u : 4u;
        var descriptorSize = wide ? 16u : 8u;
        if (length < headerSize + descriptorSize || (length - headerSize) % descriptorSize != 0 || length > MaxStatusPayload)
        {
            throw Protocol($"block status chunk of {length} bytes");
        }

        var payload = ReadPayload((int)length);
        var contextId = BinaryPrimitives.ReadUInt32BigEndian(payload);
        if (contextId != request.ContextId || request.Extents is null)
        {
            return;
        }

        var position = request.Offset;
        for (var at = (int)headerSize; at < payload.Length; at += (int)descriptorSize)
        {
            long extentLength;
            uint status;
            if (wide)
            {
                extentLength = (long)BinaryPrimitives.ReadUInt64BigEndian(payload[at..]);
                status = BinaryPrimitives.ReadUInt32BigEndian(payload[(at + 12)..]);
            }
            else
            {
                extentLength = BinaryPrimitives.ReadUInt32BigEndian(payload[at..]);
                status = BinaryPrimitives.ReadUInt32BigEndian(payload[(at + 4)..]);
            }

            if (extentLength <= 0 || extentLength > Export.Size - position)
            {
                // Servers may round the last extent up past the request, but never past the export.
                extentLength = Math.Min(extentLength, Export.Size - position);
                if (extentLength <= 0)
                {
                    throw Protocol($"block status extent of length {extentLength} at {position}");
                }
            }

            request.Extents.Add(position, extentLength, (ExtentFlags)status);
            position += extentLength;
        }
    }

    private void ReadError(PendingRequest request, ulong length)
    {
        if (length < 6 || length > 65536)
        {
            throw Protocol($"error chunk of {length} bytes");
        }

        var payload = ReadPayload((int)length);
        var error = (NbdError)BinaryPrimitives.ReadUInt32BigEndian(payload);
        var messageLength = Math.Min(BinaryPrimitives.ReadUInt16BigEndian(payload[4..]), payload.Length - 6);
        var message = messageLength > 0 ? Encoding.UTF8.GetString(payload.Slice(6, messageLength)) : null;
        request.Error ??= ServerError(request, error == NbdError.None ? NbdError.Invalid : error, message);
    }

    private ReadOnlySpan<byte> ReadPayload(int length)
    {
        if (_scratch.Length < length)
        {
            _scratch = new byte[Math.Max(length, _scratch.Length * 2)];
        }

        _channel.ReadExact(_scratch.AsSpan(0, length));
        return _scratch.AsSpan(0, length);
    }
}
