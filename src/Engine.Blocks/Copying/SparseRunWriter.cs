using Engine.Blocks.Buffers;

namespace Engine.Blocks.Copying;

/// <summary>
/// Collects consecutive chunks of a disk into one buffer and writes each run with one positional write, leaving
/// all-zero chunks unwritten so the output stays sparse. Not thread-safe: one instance per worker.
/// </summary>
/// <remarks>
/// Generic over any <see cref="IBlockDevice"/>: the OVA importer's raw copy and both VMDK converters write through it,
/// which is why it lives here rather than beside either of them.
/// </remarks>
internal sealed class SparseRunWriter : IDisposable
{
    /// <summary>Largest run written at once.</summary>
    public const int RunBytes = 1 << 20;

    private readonly IBlockDevice _target;
    private readonly NativeBuffer _buffer;
    private long _runStart = -1;
    private int _runLength;

    /// <summary>Creates a writer to <paramref name="target"/> for chunks of at most <paramref name="chunkBytes"/> bytes.</summary>
    public SparseRunWriter(IBlockDevice target, int chunkBytes)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(chunkBytes);
        _target = target;
        _buffer = BufferPool.Shared.Rent(Math.Max(RunBytes, chunkBytes));
    }

    /// <summary>Bytes written so far (zero chunks excluded).</summary>
    public long DataBytes { get; private set; }

    /// <summary>The buffer to fill with the chunk at <paramref name="offset"/>; flushes the current run first if the chunk does not extend it.</summary>
    public ValueTask<Memory<byte>> GetSlotAsync(long offset, int length, CancellationToken cancellationToken)
    {
        if (_runLength > 0 && (offset != _runStart + _runLength || _runLength + length > _buffer.Length))
        {
            return FlushThenSlotAsync(length, cancellationToken);
        }

        // The common case extends the run: no state machine, no allocation.
        return ValueTask.FromResult(_buffer.Memory.Slice(_runLength, length));
    }

    /// <summary>Accepts the chunk just written into the slot: appended to the run, or dropped (ending the run) when it is all zeroes.</summary>
    public ValueTask CommitAsync(long offset, int length, CancellationToken cancellationToken)
    {
        if (_buffer.Span.Slice(_runLength, length).IndexOfAnyExcept((byte)0) < 0)
        {
            return FlushAsync(cancellationToken);
        }

        if (_runLength == 0)
        {
            _runStart = offset;
        }

        _runLength += length;
        return ValueTask.CompletedTask;
    }

    /// <summary>Writes the pending run.</summary>
    public ValueTask FlushAsync(CancellationToken cancellationToken) =>
        _runLength == 0 ? ValueTask.CompletedTask : WriteRunAsync(cancellationToken);

    /// <inheritdoc/>
    public void Dispose() => _buffer.Dispose();

    private async ValueTask<Memory<byte>> FlushThenSlotAsync(int length, CancellationToken cancellationToken)
    {
        await WriteRunAsync(cancellationToken).ConfigureAwait(false);
        return _buffer.Memory[..length];
    }

    private async ValueTask WriteRunAsync(CancellationToken cancellationToken)
    {
        await _target.WriteAsync(_runStart, _buffer.Memory[.._runLength], WriteFlags.None, cancellationToken).ConfigureAwait(false);
        DataBytes += _runLength;
        _runLength = 0;
        _runStart = -1;
    }
}
