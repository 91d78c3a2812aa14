namespace Engine.Blocks.Devices;

/// <summary>A sink of a given size: writes vanish, reads return zeroes, everything reads as a hole. The target <c>null:</c>.</summary>
internal sealed class NullBlockDevice(long size) : IBlockDevice
{
    /// <inheritdoc />
    public long Size { get; } = size;

    /// <inheritdoc />
    public BlockDeviceCapabilities Capabilities =>
        BlockDeviceCapabilities.Trim | BlockDeviceCapabilities.WriteZeroes | BlockDeviceCapabilities.FastZero | BlockDeviceCapabilities.MultiConnSafe | BlockDeviceCapabilities.Extents;

    /// <inheritdoc />
    public int MinimumBlockSize => 1;

    /// <inheritdoc />
    public int PreferredBlockSize => 4096;

    /// <inheritdoc />
    public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        destination.Span.Clear();
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, WriteFlags flags = WriteFlags.None, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    /// <inheritdoc />
    public ValueTask FlushAsync(CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    /// <inheritdoc />
    public ValueTask TrimAsync(long offset, long length, WriteFlags flags = WriteFlags.None, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    /// <inheritdoc />
    public ValueTask WriteZeroesAsync(long offset, long length, WriteZeroesFlags flags, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    /// <inheritdoc />
    public ValueTask CacheAsync(long offset, long length, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    /// <inheritdoc />
    public ValueTask<long> GetExtentsAsync(long offset, long length, ExtentList extents, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(extents);
        extents.Add(offset, length, ExtentFlags.HoleZero);
        return ValueTask.FromResult(length);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
