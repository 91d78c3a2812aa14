namespace Engine.Blocks.Devices;

/// <summary>
/// A sparse in-memory block device for tests and scratch space. Storage is allocated in 64 KiB pages on the first
/// non-zero write; absent pages read as zeroes and are reported as holes.
/// </summary>
/// <remarks>
/// One reader-writer lock guards the page table and the page contents: this device favours obvious correctness over
/// throughput. No lock is held across an <c>await</c>, so the thread affinity of the lock never matters.
/// </remarks>
public sealed class MemoryBlockDevice : IBlockDevice
{
    /// <summary>Size of an allocation page in bytes.</summary>
    public const int PageSize = 64 << 10;

    private const int PageShift = 16;

    // Caps the pages one extent query looks at, so that the lock is never held for long.
    private const int MaxPagesPerExtentQuery = 1 << 14;

    private readonly Dictionary<long, byte[]> _pages = [];
    private readonly ReaderWriterLockSlim _lock = new(LockRecursionPolicy.NoRecursion);
    private readonly bool _readOnly;
    private int _disposed;

    /// <summary>Creates a device of <paramref name="size"/> bytes that reads as zeroes.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is negative.</exception>
    public MemoryBlockDevice(long size, bool readOnly = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        Size = size;
        _readOnly = readOnly;
    }

    /// <inheritdoc />
    public long Size { get; }

    /// <inheritdoc />
    public BlockDeviceCapabilities Capabilities => _readOnly
        ? BlockDeviceCapabilities.ReadOnly | BlockDeviceCapabilities.Cache | BlockDeviceCapabilities.MultiConnSafe | BlockDeviceCapabilities.Extents
        : BlockDeviceCapabilities.Flush | BlockDeviceCapabilities.Fua | BlockDeviceCapabilities.Trim | BlockDeviceCapabilities.WriteZeroes
          | BlockDeviceCapabilities.FastZero | BlockDeviceCapabilities.Cache | BlockDeviceCapabilities.MultiConnSafe | BlockDeviceCapabilities.Extents;

    /// <inheritdoc />
    public int MinimumBlockSize => 1;

    /// <inheritdoc />
    public int PreferredBlockSize => 4096;

    /// <summary>Number of pages currently holding data; lets tests check that zeroes are not stored.</summary>
    public int AllocatedPages
    {
        get
        {
            _lock.EnterReadLock();
            try
            {
                return _pages.Count;
            }
            finally
            {
                _lock.ExitReadLock();
            }
        }
    }

    /// <inheritdoc />
    public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ThrowIfDisposed();
        DeviceRange.Check(offset, destination.Length, Size, "read");
        var span = destination.Span;
        _lock.EnterReadLock();
        try
        {
            while (!span.IsEmpty)
            {
                var inPage = (int)(offset & (PageSize - 1));
                var count = Math.Min(span.Length, PageSize - inPage);
                if (_pages.TryGetValue(offset >> PageShift, out var page))
                {
                    page.AsSpan(inPage, count).CopyTo(span);
                }
                else
                {
                    span[..count].Clear();
                }

                span = span[count..];
                offset += count;
            }
        }
        finally
        {
            _lock.ExitReadLock();
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, WriteFlags flags = WriteFlags.None, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ThrowIfReadOnly("write");
        DeviceRange.CheckWrite(offset, source.Length, Size, "write");
        var span = source.Span;
        _lock.EnterWriteLock();
        try
        {
            while (!span.IsEmpty)
            {
                var inPage = (int)(offset & (PageSize - 1));
                var count = Math.Min(span.Length, PageSize - inPage);
                var chunk = span[..count];
                var index = offset >> PageShift;
                var allZero = !chunk.ContainsAnyExcept((byte)0);
                if (_pages.TryGetValue(index, out var page))
                {
                    chunk.CopyTo(page.AsSpan(inPage));
                    if (allZero)
                    {
                        DropIfZero(index, page);
                    }
                }
                else if (!allZero)
                {
                    page = new byte[PageSize];
                    chunk.CopyTo(page.AsSpan(inPage));
                    _pages.Add(index, page);
                }

                span = span[count..];
                offset += count;
            }
        }
        finally
        {
            _lock.ExitWriteLock();
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask TrimAsync(long offset, long length, WriteFlags flags = WriteFlags.None, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ThrowIfReadOnly("trim");
        DeviceRange.Check(offset, length, Size, "trim");
        Zero(offset, length);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask WriteZeroesAsync(long offset, long length, WriteZeroesFlags flags, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ThrowIfReadOnly("write zeroes");
        DeviceRange.CheckWrite(offset, length, Size, "write zeroes");
        Zero(offset, length);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask CacheAsync(long offset, long length, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ThrowIfDisposed();
        DeviceRange.Check(offset, length, Size, "cache");
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<long> GetExtentsAsync(long offset, long length, ExtentList extents, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(extents);
        cancellationToken.ThrowIfCancellationRequested();
        ThrowIfDisposed();
        DeviceRange.CheckNonEmpty(offset, length, Size, "extents");
        var end = offset + length;
        long covered;
        _lock.EnterReadLock();
        try
        {
            var pagesInRange = ((end - 1) >> PageShift) - (offset >> PageShift) + 1;
            covered = pagesInRange <= _pages.Count ? WalkPages(offset, end, extents) : WalkPresentPages(offset, end, extents);
        }
        finally
        {
            _lock.ExitReadLock();
        }

        return ValueTask.FromResult(covered);
    }

    /// <summary>Looks every page of the range up: cheapest when the range is small next to the page table.</summary>
    private long WalkPages(long offset, long end, ExtentList extents)
    {
        var position = offset;
        for (var pages = 0; position < end && pages < MaxPagesPerExtentQuery; pages++)
        {
            var pageEnd = Math.Min(((position >> PageShift) + 1) << PageShift, end);
            extents.Add(position, pageEnd - position, _pages.ContainsKey(position >> PageShift) ? ExtentFlags.Data : ExtentFlags.HoleZero);
            position = pageEnd;
        }

        return position - offset;
    }

    /// <summary>Sorts the pages present in the range: cheapest when the range is mostly holes, however large.</summary>
    private long WalkPresentPages(long offset, long end, ExtentList extents)
    {
        var first = offset >> PageShift;
        var last = (end - 1) >> PageShift;
        var present = new List<long>();
        foreach (var index in _pages.Keys)
        {
            if (index >= first && index <= last)
            {
                present.Add(index);
            }
        }

        present.Sort();
        var position = offset;
        foreach (var index in present.Take(MaxPagesPerExtentQuery))
        {
            var pageStart = Math.Max(index << PageShift, offset);
            if (pageStart > position)
            {
                extents.Add(position, pageStart - position, ExtentFlags.HoleZero);
            }

            var pageEnd = Math.Min((index + 1) << PageShift, end);
            extents.Add(pageStart, pageEnd - pageStart, ExtentFlags.Data);
            position = pageEnd;
        }

        if (present.Count <= MaxPagesPerExtentQuery && position < end)
        {
            extents.Add(position, end - position, ExtentFlags.HoleZero);
            position = end;
        }

        return position - offset;
    }

    /// <summary>Frees the pages; later calls throw <see cref="ObjectDisposedException"/>. Safe to call more than once.</summary>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _lock.EnterWriteLock();
            try
            {
                _pages.Clear();
            }
            finally
            {
                _lock.ExitWriteLock();
            }
        }

        return ValueTask.CompletedTask;
    }

    private void Zero(long offset, long length)
    {
        var end = offset + length;
        _lock.EnterWriteLock();
        try
        {
            while (offset < end)
            {
                var index = offset >> PageShift;
                var inPage = (int)(offset & (PageSize - 1));
                var count = (int)Math.Min(end - offset, PageSize - inPage);
                if (_pages.TryGetValue(index, out var page))
                {
                    if (count == PageSize)
                    {
                        _pages.Remove(index);
                    }
                    else
                    {
                        page.AsSpan(inPage, count).Clear();
                        DropIfZero(index, page);
                    }
                }

                offset += count;
            }
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    // Called with the write lock held: a page that became all zeroes is indistinguishable from an absent one.
    private void DropIfZero(long index, byte[] page)
    {
        if (!page.AsSpan().ContainsAnyExcept((byte)0))
        {
            _pages.Remove(index);
        }
    }

    private void ThrowIfReadOnly(string operation)
    {
        ThrowIfDisposed();
        if (_readOnly)
        {
            throw new BlockDeviceException(Errno.EPERM, $"{operation}: the memory device is read-only");
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
}
