namespace Engine.Ova.Import;

/// <summary>Returns bytes already peeked (to detect the format) before the rest of the inner stream.</summary>
internal sealed class ReplayStream(ReadOnlyMemory<byte> prefix, Stream inner) : ForwardReadStream
{
    private ReadOnlyMemory<byte> _prefix = prefix;

    public override int Read(Span<byte> buffer)
    {
        int count;
        if (_prefix.IsEmpty)
        {
            count = inner.Read(buffer);
        }
        else
        {
            count = Math.Min(buffer.Length, _prefix.Length);
            _prefix.Span[..count].CopyTo(buffer);
            _prefix = _prefix[count..];
        }

        BytesRead += count;
        return count;
    }
}
