using Engine.Blocks;
using Engine.Blocks.Buffers;

namespace Engine.Ova.Import;

/// <summary>
/// Collects consecutive chunks of a disk into one buffer and writes each run with one positional write, leaving
/// all-zero chunks unwritten so the output stays sparse. One instance per thread.
/// </summary>
internal sealed class SparseRunWriter : IDisposable
{
    /// <summary>Largest run written at once.</summary>
    public const int RunBytes = 1 << 20;

    private readonly IBlockDevice _target;
    private readonly NativeBuffer _buffer;
    private long _runStart = -1;
    private int _runLength;

    public SparseRunWriter(IBlockDevice target, int chunkBytes)
    {
        _target = target;
        _buffer = BufferPool.Shared.Rent(Math.Max(RunBytes, chunkBytes));
    }

    /// <summary>Bytes written so far (zero chunks excluded).</summary>
    public long DataBytes { get; private set; }

    /// <summary>The buffer to fill with the chunk at <paramref name="offset"/>; flushes the current run first if the chunk does not extend it.</summary>
    public async ValueTask<Memory<byte>> GetSlotAsync(long offset, int length, CancellationToken cancellationToken)
    {
        if (_runLength > 0 && (offset != _runStart + _runLength || _runLength + length > _buffer.Length))
        {
            await FlushAsync(cancellationToken);
        }

        return _buffer.Memory.Slice(_runLength, length);
    }

    /// <summary>Accepts the chunk just written into the slot: appended to the run, or dropped (ending the run) when it is all zeroes.</summary>
    public async ValueTask CommitAsync(long offset, int length, CancellationToken cancellationToken)
    {
        if (_buffer.Span.Slice(_runLength, length).IndexOfAnyExcept((byte)0) < 0)
        {
            await FlushAsync(cancellationToken);
            return;
        }

        if (_runLength == 0)
        {
            _runStart = offset;
        }

        _runLength += length;
    }

    /// <summary>Writes the pending run.</summary>
    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        if (_runLength == 0)
        {
            return;
        }

        await _target.WriteAsync(_runStart, _buffer.Memory[.._runLength], WriteFlags.None, cancellationToken);
        DataBytes += _runLength;
        _runLength = 0;
        _runStart = -1;
    }

    /// <summary>Synchronous <see cref="GetSlotAsync"/>, for the converter's dedicated threads.</summary>
    public Memory<byte> GetSlot(long offset, int length, CancellationToken cancellationToken) => Wait(GetSlotAsync(offset, length, cancellationToken));

    /// <summary>Synchronous <see cref="CommitAsync"/>.</summary>
    public void Commit(long offset, int length, CancellationToken cancellationToken) => Wait(CommitAsync(offset, length, cancellationToken));

    /// <summary>Synchronous <see cref="FlushAsync"/>.</summary>
    public void Flush(CancellationToken cancellationToken) => Wait(FlushAsync(cancellationToken));

    public void Dispose() => _buffer.Dispose();

    // File devices complete writes synchronously (a blocking pwrite); anything else is waited for on this dedicated thread.
    private static T Wait<T>(ValueTask<T> task) => task.IsCompletedSuccessfully ? task.Result : task.AsTask().GetAwaiter().GetResult();

    private static void Wait(ValueTask task)
    {
        if (task.IsCompletedSuccessfully)
        {
            return;
        }

        task.AsTask().GetAwaiter().GetResult();
    }
}
