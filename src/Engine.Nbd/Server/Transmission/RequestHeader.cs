using System.Buffers.Binary;
using Engine.Nbd.Protocol;

namespace Engine.Nbd.Server.Transmission;

/// <summary>A parsed request header, compact or extended.</summary>
internal readonly record struct RequestHeader(CommandFlags Flags, NbdCommand Command, ulong Cookie, ulong Offset, ulong Length, ulong PayloadLength)
{
    /// <summary>Parses a header in place; returns false on a bad magic (the stream is out of step).</summary>
    public static bool TryParse(ReadOnlySpan<byte> bytes, bool extended, out RequestHeader header)
    {
        var magic = BinaryPrimitives.ReadUInt32BigEndian(bytes);
        var flags = (CommandFlags)BinaryPrimitives.ReadUInt16BigEndian(bytes[4..]);
        var command = (NbdCommand)BinaryPrimitives.ReadUInt16BigEndian(bytes[6..]);
        var cookie = BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]);
        var offset = BinaryPrimitives.ReadUInt64BigEndian(bytes[16..]);
        if (extended)
        {
            var length = BinaryPrimitives.ReadUInt64BigEndian(bytes[24..]);
            header = new RequestHeader(flags, command, cookie, offset, length, (flags & CommandFlags.PayloadLength) != 0 ? length : 0);
            return magic == NbdMagic.ExtendedRequest;
        }
        else
        {
            var length = BinaryPrimitives.ReadUInt32BigEndian(bytes[24..]);
            header = new RequestHeader(flags, command, cookie, offset, length, command == NbdCommand.Write ? length : 0);
            return magic == NbdMagic.Request;
        }
    }
}
