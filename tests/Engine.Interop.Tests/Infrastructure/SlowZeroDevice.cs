using Engine.Blocks;

namespace Engine.Interop.Tests.Infrastructure;

/// <summary>
/// Test-only decorator: a device on which zeroing is never fast. Write-zeroes with
/// <see cref="WriteZeroesFlags.FastOnly"/> fails with ENOTSUP (as the contract requires); the
/// <see cref="BlockDeviceCapabilities.FastZero"/> capability is advertised or not as asked, so both server paths
/// (flag not advertised / flag advertised but refused per request) can be checked.
/// </summary>
internal sealed class SlowZeroDevice(IBlockDevice inner, bool advertiseFastZero) : IBlockDevice
{
    private int _fastOnlyRequests;
    private int _zeroRequests;

    /// <summary>Write-zeroes requests that reached the device with FastOnly.</summary>
    public int FastOnlyRequests => Volatile.Read(ref _fastOnlyRequests);

    /// <summary>All write-zeroes requests that reached the device.</summary>
    public int ZeroRequests => Volatile.Read(ref _zeroRequests);

    public long Size => inner.Size;

    public BlockDeviceCapabilities Capabilities => advertiseFastZero
        ? inner.Capabilities | BlockDeviceCapabilities.FastZero
        : inner.Capabilities & ~BlockDeviceCapabilities.FastZero;

    public int MinimumBlockSize => inner.MinimumBlockSize;

    public int PreferredBlockSize => inner.PreferredBlockSize;

    public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default) =>
        inner.ReadAsync(offset, destination, cancellationToken);

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, WriteFlags flags = WriteFlags.None, CancellationToken cancellationToken = default) =>
        inner.WriteAsync(offset, source, flags, cancellationToken);

    public ValueTask FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);

    public ValueTask TrimAsync(long offset, long length, WriteFlags flags = WriteFlags.None, CancellationToken cancellationToken = default) =>
        inner.TrimAsync(offset, length, flags, cancellationToken);

    public ValueTask WriteZeroesAsync(long offset, long length, WriteZeroesFlags flags, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _zeroRequests);
        if (flags.HasFlag(WriteZeroesFlags.FastOnly))
        {
            Interlocked.Increment(ref _fastOnlyRequests);
            return ValueTask.FromException(new BlockDeviceException(Errno.ENOTSUP, "zeroing is not fast on this device"));
        }

        return inner.WriteZeroesAsync(offset, length, flags, cancellationToken);
    }

    public ValueTask CacheAsync(long offset, long length, CancellationToken cancellationToken = default) =>
        inner.CacheAsync(offset, length, cancellationToken);

    public ValueTask<long> GetExtentsAsync(long offset, long length, ExtentList extents, CancellationToken cancellationToken = default) =>
        inner.GetExtentsAsync(offset, length, extents, cancellationToken);

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
