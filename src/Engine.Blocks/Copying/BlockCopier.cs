using System.Runtime.CompilerServices;
using Engine.Blocks.Buffers;
using Engine.Blocks.Work;

namespace Engine.Blocks.Copying;

/// <summary>
/// Copies one block device to another, sparse-aware: the source's extents say where the holes are, all-zero data
/// blocks are detected, and holes become nothing (zeroed target), punched holes, or written zeroes (allocated).
/// Many requests run at once, each with its own pooled buffer; the source is read straight into it and the target
/// written from it, with no other copy.
/// </summary>
public static class BlockCopier
{
    /// <summary>Largest range asked of the source's extents at once.</summary>
    private const long ExtentWindow = 1L << 30;

    /// <summary>The first range asked is smaller, so that the first data requests go out sooner.</summary>
    private const long FirstExtentWindow = 64L << 20;

    /// <summary>Copies <paramref name="source"/> to the start of <paramref name="target"/>, which must be at least as large.</summary>
    /// <exception cref="BlockDeviceException">The target is smaller than the source (ENOSPC) or read-only (EPERM).</exception>
    public static async Task<BlockCopyResult> CopyAsync(IBlockDevice source, IBlockDevice target, BlockCopyOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(target);
        options ??= new BlockCopyOptions();
        if (target.Size < source.Size)
        {
            throw new BlockDeviceException(Errno.ENOSPC, $"target ({target.Size} bytes) is smaller than the source ({source.Size} bytes) (ENOSPC)");
        }

        if (target.Capabilities.HasFlag(BlockDeviceCapabilities.ReadOnly))
        {
            throw new BlockDeviceException(Errno.EPERM, "target is read-only (EPERM)");
        }

        var state = new CopyState(source, target, options);
        var workers = Math.Max(1, options.RequestsInFlight);
        await using (var pipeline = new WorkerPipeline<Extent>(workers, workers * 2, state.CopyAsync, discard: null, cancellationToken))
        {
            await pipeline.RunAsync(state.ProduceAsync).ConfigureAwait(false);
        }

        if (options.FlushTarget)
        {
            await target.FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        return new BlockCopyResult(source.Size, state.DataBytes, state.ZeroBytes);
    }

    /// <summary>
    /// The walk over the source's extents (the producer) and the copy of one piece (the workers). While the workers
    /// copy one window of extents, the producer fetches the next, so that they do not all stop for a block-status
    /// round trip.
    /// </summary>
    private sealed class CopyState(IBlockDevice source, IBlockDevice target, BlockCopyOptions options)
    {
        private ExtentList _extents = new(256);
        private ExtentList _spare = new(256);
        private readonly int _alignment = Math.Max(source.MinimumBlockSize, target.MinimumBlockSize);
        private int _extentIndex;
        private long _position;
        private long _done;
        private long _dataBytes;
        private long _zeroBytes;

        public long DataBytes => Interlocked.Read(ref _dataBytes);

        public long ZeroBytes => Interlocked.Read(ref _zeroBytes);

        /// <summary>Hands the workers pieces: whole zero extents, or at most one request of data each.</summary>
        public async Task ProduceAsync(WorkerPipeline<Extent> pipeline, CancellationToken cancellationToken)
        {
            if (source.Size == 0)
            {
                // Nothing to copy, and no block-status range to ask for: devices refuse a zero-length query.
                return;
            }

            var requestSize = Math.Max(options.RequestSize & ~(_alignment - 1), _alignment);
            var end = await FetchAsync(_extents, 0, FirstExtentWindow, cancellationToken).ConfigureAwait(false);
            while (true)
            {
                // Fetch the window after this one while this one is copied.
                var ahead = end < source.Size ? FetchAsync(_spare, end, ExtentWindow, cancellationToken) : null;
                try
                {
                    while (TryTake(requestSize, out var piece))
                    {
                        await pipeline.SubmitAsync(piece).ConfigureAwait(false);
                    }
                }
                catch when (ahead is not null)
                {
                    // Let the window being fetched end before the caller closes the source.
                    await ((Task)ahead).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    throw;
                }

                if (ahead is null || _position >= source.Size)
                {
                    if (ahead is not null)
                    {
                        await ((Task)ahead).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    }

                    return;
                }

                end = await ahead.ConfigureAwait(false);
                (_extents, _spare) = (_spare, _extents);
                _extentIndex = 0;
            }
        }

        /// <summary>Copies (or zeroes) one piece; runs on many workers at once.</summary>
        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
        public async ValueTask CopyAsync(Extent piece, CancellationToken cancellationToken)
        {
            if ((piece.Flags & ExtentFlags.Zero) != 0)
            {
                await ZeroAsync(piece.Offset, piece.Length, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await CopyDataAsync(piece.Offset, (int)piece.Length, cancellationToken).ConfigureAwait(false);
            }

            options.Progress?.Report(Interlocked.Add(ref _done, piece.Length));
        }

        /// <summary>Fills <paramref name="extents"/> from <paramref name="offset"/> on; returns where they end.</summary>
        private async Task<long> FetchAsync(ExtentList extents, long offset, long window, CancellationToken cancellationToken)
        {
            extents.Clear();
            await (options.Selection ?? source.GetExtentsAsync)(offset, Math.Min(window, source.Size - offset), extents, cancellationToken).ConfigureAwait(false);
            var end = Math.Min(extents.End, source.Size);
            if (extents.Count == 0 || extents.AsSpan()[0].Offset > offset || end <= offset)
            {
                throw new BlockDeviceException(Errno.EIO, $"the source's extents at {offset} leave a gap or make no progress (EIO)");
            }

            return end;
        }

        /// <summary>Takes a piece from the extents already fetched; false when they are used up. Only the producer calls it.</summary>
        private bool TryTake(int requestSize, out Extent piece)
        {
            while (_extentIndex < _extents.Count && _position < source.Size)
            {
                var extent = _extents.AsSpan()[_extentIndex];
                var end = Math.Min(extent.End, source.Size);
                if (_position < extent.Offset || _position >= end)
                {
                    _extentIndex++;
                    continue;
                }

                if (options.Selection is not null && ((uint)extent.Flags & options.SelectionMask) == 0)
                {
                    // Not selected: skip it without touching the target.
                    Interlocked.Add(ref _done, end - _position);
                    _position = end;
                    _extentIndex++;
                    continue;
                }

                var isZero = options.Selection is null && (extent.Flags & ExtentFlags.Zero) != 0;
                var length = isZero ? end - _position : Math.Min(requestSize, end - _position);
                piece = new Extent(_position, length, isZero ? ExtentFlags.HoleZero : ExtentFlags.Data);
                _position += length;
                if (_position >= end)
                {
                    _extentIndex++;
                }

                return true;
            }

            piece = default;
            return false;
        }

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
        private async ValueTask CopyDataAsync(long offset, int length, CancellationToken cancellationToken)
        {
            using var buffer = BufferPool.Shared.Rent(length);
            await source.ReadAsync(offset, buffer.Memory, cancellationToken).ConfigureAwait(false);
            if (options.DetectZeroes && !buffer.Span.ContainsAnyExcept((byte)0))
            {
                await ZeroAsync(offset, length, cancellationToken).ConfigureAwait(false);
                return;
            }

            await target.WriteAsync(offset, buffer.Memory, WriteFlags.None, cancellationToken).ConfigureAwait(false);
            Interlocked.Add(ref _dataBytes, length);
        }

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
        private async ValueTask ZeroAsync(long offset, long length, CancellationToken cancellationToken)
        {
            Interlocked.Add(ref _zeroBytes, length);
            if (options.TargetIsZeroed && !options.Allocated)
            {
                return;
            }

            if (target.Capabilities.HasFlag(BlockDeviceCapabilities.WriteZeroes))
            {
                var flags = options.Allocated ? WriteZeroesFlags.None : WriteZeroesFlags.MayPunchHole;
                await target.WriteZeroesAsync(offset, length, flags, cancellationToken).ConfigureAwait(false);
                return;
            }

            // A target that cannot zero gets real zeroes, one request at a time.
            var chunk = (int)Math.Min(length, options.RequestSize);
            using var zeroes = BufferPool.Shared.Rent(chunk);
            zeroes.Span.Clear();
            for (var done = 0L; done < length; done += chunk)
            {
                var n = (int)Math.Min(chunk, length - done);
                await target.WriteAsync(offset + done, zeroes.Memory[..n], WriteFlags.None, cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
