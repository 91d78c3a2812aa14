using System.Buffers;

namespace Engine.Provider.Protocol;

/// <summary>What <see cref="ProtocolLineReader"/> read: a line, a line over the limit (only its length), or the end of input.</summary>
internal readonly struct ProtocolLine
{
    private ProtocolLine(ProtocolLineKind kind, ReadOnlySequence<byte> bytes, long length)
    {
        Kind = kind;
        Bytes = bytes;
        Length = length;
    }

    /// <summary>The end of input.</summary>
    public static ProtocolLine End => new(ProtocolLineKind.End, default, 0);

    /// <summary>Which of the three this is.</summary>
    public ProtocolLineKind Kind { get; }

    /// <summary>The line without its newline (only for <see cref="ProtocolLineKind.Line"/>); valid until the next read.</summary>
    public ReadOnlySequence<byte> Bytes { get; }

    /// <summary>The line's length in bytes, newline excluded.</summary>
    public long Length { get; }

    /// <summary>
    /// <paramref name="bytes"/> as a line, or only its length when <paramref name="skipped"/> bytes dropped before them
    /// and the bytes make it longer than <see cref="ProviderProtocolHost.MaxLineBytes"/>.
    /// </summary>
    public static ProtocolLine Of(ReadOnlySequence<byte> bytes, long skipped = 0)
    {
        var length = skipped + bytes.Length;
        return length > ProviderProtocolHost.MaxLineBytes
            ? new ProtocolLine(ProtocolLineKind.TooLong, default, length)
            : new ProtocolLine(ProtocolLineKind.Line, bytes, length);
    }
}
