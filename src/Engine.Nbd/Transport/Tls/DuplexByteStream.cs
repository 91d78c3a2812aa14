namespace Engine.Nbd.Transport.Tls;

/// <summary>
/// A connection's byte stream as <see cref="Stream"/> wants it said: readable and writable, never seekable, with no
/// length. The TLS streams derive from it and supply only reads, writes and disposal.
/// </summary>
internal abstract class DuplexByteStream : Stream
{
    public sealed override bool CanRead => true;

    public sealed override bool CanWrite => true;

    public sealed override bool CanSeek => false;

    public sealed override long Length => throw new NotSupportedException();

    public sealed override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public sealed override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public sealed override void SetLength(long value) => throw new NotSupportedException();
}
