using Engine.Blocks.Buffers;

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

        using var state = new CopyState(source, target, options, cancellationToken);
        var workers = new Task[Math.Max(1, options.RequestsInFlight)];
        for (var i = 0; i < workers.Length; i++)
        {
            workers[i] = Task.Run(state.WorkAsync, cancellationToken);
        }

        try
        {
            await Task.WhenAll(workers).ConfigureAwait(false);
        }
        finally
        {
            // On failure a window may still be being fetched ahead: let it end before the caller closes the source.
            await state.AbandonPrefetchAsync().ConfigureAwait(false);
        }

        if (options.FlushTarget)
        {
            await target.FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        return new BlockCopyResult(source.Size, state.DataBytes, state.ZeroBytes);
    }

    /// <summary>
    /// The shared cursor over the source's extents that the workers take pieces from. While the workers copy one
    /// window of extents, the next is fetched ahead, so that they do not all stop for a block-status round trip.
    /// </summary>
    private sealed class CopyState(IBlockDevice source, IBlockDevice target, BlockCopyOptions options, CancellationToken cancellationToken) : IDisposable
    {
        private readonly Lock _sync = new();
        private readonly SemaphoreSlim _refillLock = new(1, 1);
        private ExtentList _extents = new(256);
        private ExtentList _spare = new(256);
        private Task<long>? _ahead; // fills _spare with the next window; only the refill-lock holder touches both
        private readonly int _alignment = Math.Max(source.MinimumBlockSize, target.MinimumBlockSize);
        private int _extentIndex;
        private long _position;
        private long _done;
        private long _dataBytes;
        private long _zeroBytes;

        public long DataBytes => Interlocked.Read(ref _dataBytes);

        public long ZeroBytes => Interlocked.Read(ref _zeroBytes);

        public void Dispose() => _refillLock.Dispose();

        /// <summary>Waits for a window still being fetched ahead, ignoring its outcome (the copy has already failed).</summary>
        public async Task AbandonPrefetchAsync()
        {
            if (_ahead is { } ahead)
            {
                await ((Task)ahead).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }

        public async Task WorkAsync()
        {
            var requestSize = Math.Max(options.RequestSize & ~(_alignment - 1), _alignment);
            while (true)
            {
                var piece = await NextAsync(requestSize).ConfigureAwait(false);
                if (piece.Length == 0)
                {
                    return;
                }

                if ((piece.Flags & ExtentFlags.Zero) != 0)
                {
                    await ZeroAsync(piece.Offset, piece.Length).ConfigureAwait(false);
                }
                else
                {
                    await CopyDataAsync(piece.Offset, (int)piece.Length).ConfigureAwait(false);
                }

                options.Progress?.Report(Interlocked.Add(ref _done, piece.Length));
            }
        }

        /// <summary>The next piece: a whole zero extent, or at most <paramref name="requestSize"/> bytes of data.</summary>
        private ValueTask<Extent> NextAsync(int requestSize)
        {
            // Hundreds of workers share the cursor: take pieces under a plain lock and only go async to refill.
            lock (_sync)
            {
                if (TryTake(requestSize, out var piece))
                {
                    return ValueTask.FromResult(piece);
                }
            }

            return RefillAndTakeAsync(requestSize);
        }

        private async ValueTask<Extent> RefillAndTakeAsync(int requestSize)
        {
            await _refillLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                while (true)
                {
                    long position;
                    lock (_sync)
                    {
                        if (TryTake(requestSize, out var piece))
                        {
                            return piece;
                        }

                        if (_position >= source.Size)
                        {
                            return default;
                        }

                        position = _position;
                    }

                    // The window in use is spent, so the cursor stands where it ends: swap in the one fetched ahead
                    // from there (fetching it now the first time), then fetch the window after it while this one is copied.
                    var end = await (_ahead ?? FetchAsync(_spare, position, FirstExtentWindow)).ConfigureAwait(false);
                    _ahead = null;
                    lock (_sync)
                    {
                        (_extents, _spare) = (_spare, _extents);
                        _extentIndex = 0;
                    }

                    if (end < source.Size)
                    {
                        _ahead = FetchAsync(_spare, end, ExtentWindow);
                    }
                }
            }
            finally
            {
                _refillLock.Release();
            }
        }

        /// <summary>Fills <paramref name="extents"/> from <paramref name="offset"/> on; returns where they end.</summary>
        private async Task<long> FetchAsync(ExtentList extents, long offset, long window)
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

        /// <summary>Takes a piece from the extents already fetched; false when they are used up. Caller holds <see cref="_sync"/>.</summary>
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
                    _done += end - _position;
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

        private async ValueTask CopyDataAsync(long offset, int length)
        {
            using var buffer = BufferPool.Shared.Rent(length);
            await source.ReadAsync(offset, buffer.Memory, cancellationToken).ConfigureAwait(false);
            if (options.DetectZeroes && !buffer.Span.ContainsAnyExcept((byte)0))
            {
                await ZeroAsync(offset, length).ConfigureAwait(false);
                return;
            }

            await target.WriteAsync(offset, buffer.Memory, WriteFlags.None, cancellationToken).ConfigureAwait(false);
            Interlocked.Add(ref _dataBytes, length);
        }

        private async ValueTask ZeroAsync(long offset, long length)
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
