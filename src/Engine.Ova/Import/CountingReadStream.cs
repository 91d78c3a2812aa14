namespace Engine.Ova.Import;

/// <summary>Counts the bytes read through it: how large a gzip file is once inflated.</summary>
internal sealed class CountingReadStream(Stream inner) : ForwardReadStream
{
    /// <summary>Bytes read so far.</summary>
    public long Count => BytesRead;

    public override int Read(Span<byte> buffer)
    {
        var read = inner.Read(buffer);
        BytesRead += read;
        return read;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
