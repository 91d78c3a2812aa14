using Engine.Blocks.Buffers;
using Engine.Blocks.Tar;

namespace Engine.Backup.Containers.Tar;

/// <summary>
/// The tar stream being written: one pooled native buffer that headers are encoded into and file content is read
/// into directly (no second copy), handed to the destination whenever it fills. Tracks the stream position so members
/// can be padded to 512-byte blocks.
/// </summary>
internal sealed class TarBlockWriter : IDisposable
{
    private readonly Stream _destination;
    private readonly NativeBuffer _buffer;
    private int _filled;

    public TarBlockWriter(Stream destination, int bufferSize)
    {
        _destination = destination;
        _buffer = BufferPool.Shared.Rent(bufferSize);
    }

    /// <summary>Bytes written so far, buffered ones included.</summary>
    public long Position { get; private set; }

    /// <summary>The buffer's size: the most <see cref="ReserveAsync"/> can promise.</summary>
    public int Capacity => _buffer.Length;

    /// <summary>
    /// Returns the free part of the buffer, at least <paramref name="minimum"/> bytes long (flushing first if needed).
    /// Fill some of it, then <see cref="Advance"/>.
    /// </summary>
    public async ValueTask<Memory<byte>> ReserveAsync(int minimum, CancellationToken cancellationToken)
    {
        if (_buffer.Length - _filled < minimum)
        {
            await FlushAsync(cancellationToken);
        }

        return _buffer.Memory[_filled..];
    }

    /// <summary>Commits <paramref name="count"/> bytes written into the last reservation.</summary>
    public void Advance(int count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)count, (uint)(_buffer.Length - _filled));
        _filled += count;
        Position += count;
    }

    /// <summary>Copies <paramref name="data"/> in, whatever its length.</summary>
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            var free = await ReserveAsync(1, cancellationToken);
            var chunk = Math.Min(free.Length, data.Length);
            data.Span[..chunk].CopyTo(free.Span);
            Advance(chunk);
            data = data[chunk..];
        }
    }

    /// <summary>Writes <paramref name="count"/> zero bytes.</summary>
    public async ValueTask WriteZerosAsync(long count, CancellationToken cancellationToken)
    {
        while (count > 0)
        {
            var free = await ReserveAsync(1, cancellationToken);
            var chunk = (int)Math.Min(free.Length, count);
            free.Span[..chunk].Clear();
            Advance(chunk);
            count -= chunk;
        }
    }

    /// <summary>Pads with zeros to the next 512-byte boundary.</summary>
    public ValueTask PadToBlockAsync(CancellationToken cancellationToken) =>
        WriteZerosAsync(-Position & (UstarLayout.BlockSize - 1), cancellationToken);

    /// <summary>Hands everything buffered to the destination.</summary>
    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        if (_filled > 0)
        {
            await _destination.WriteAsync(_buffer.Memory[.._filled], cancellationToken);
            _filled = 0;
        }
    }

    public void Dispose() => _buffer.Dispose();
}
