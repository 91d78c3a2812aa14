namespace Engine.Ova.Import;

/// <summary>Returns bytes already peeked (to detect the format) before the rest of the inner stream.</summary>
internal sealed class ReplayStream(ReadOnlyMemory<byte> prefix, Stream inner) : ForwardReadStream, IHoleSkipping
{
    private ReadOnlyMemory<byte> _prefix = prefix;

    public long HoleAhead => _prefix.IsEmpty && inner is IHoleSkipping holes ? holes.HoleAhead : 0;

    public void SkipHole(long count)
    {
        ((IHoleSkipping)inner).SkipHole(count);
        BytesRead += count;
    }

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
