namespace Engine.Ova.Vmdk;

/// <summary>A read-only stream over a memory slice that can be pointed at the next slice, so the inflater's input needs no allocation per grain.</summary>
internal sealed class MemoryReadStream : Stream
{
    private ReadOnlyMemory<byte> _data;
    private int _position;

    public void Reset(ReadOnlyMemory<byte> data)
    {
        _data = data;
        _position = 0;
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => _data.Length;

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    public override int Read(Span<byte> buffer)
    {
        var count = Math.Min(buffer.Length, _data.Length - _position);
        _data.Span.Slice(_position, count).CopyTo(buffer);
        _position += count;
        return count;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
