namespace Engine.Ova.Import;

/// <summary>
/// Base of the importer's forward-only read streams (a member's bytes, a replayed prefix, an inflated count): read
/// once, front to back; no seeking, no writing. <see cref="Position"/> is the number of bytes read so far.
/// </summary>
internal abstract class ForwardReadStream : Stream
{
    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => BytesRead;
        set => throw new NotSupportedException();
    }

    /// <summary>Bytes this stream has returned so far.</summary>
    protected long BytesRead { get; set; }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    /// <summary>Reads whatever is left, through the end.</summary>
    public void Drain()
    {
        var scratch = new byte[64 << 10];
        while (Read(scratch) > 0)
        {
        }
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
