namespace Engine.Fuzz.Support;

/// <summary>
/// A read-only, non-seekable stream over bytes that hands out at most <see cref="MaxRead"/> bytes per read, as a
/// pipe does: parsers that assume one read fills their buffer, or that they can seek, show it here.
/// </summary>
internal sealed class PipeLikeStream(byte[] data) : ForwardOnlyStream
{
    /// <summary>An odd size, so that short reads land in the middle of headers and grains.</summary>
    public const int MaxRead = 4093;

    private int _position;

    public override int Read(Span<byte> buffer)
    {
        var count = Math.Min(Math.Min(buffer.Length, MaxRead), data.Length - _position);
        data.AsSpan(_position, count).CopyTo(buffer);
        _position += count;
        return count;
    }
}
