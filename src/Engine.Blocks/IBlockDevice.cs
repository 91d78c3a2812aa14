namespace Engine.Blocks;

/// <summary>
/// A random-access block device: the one abstraction that the NBD server, the NBD client and the
/// backup engine all read and write through. Offsets and lengths are in bytes.
/// </summary>
/// <remarks>
/// Implementations are thread-safe: the NBD server issues many requests concurrently against one device.
/// Callers validate ranges against <see cref="Size"/> before calling; implementations still throw
/// <see cref="BlockDeviceException"/> with <c>EINVAL</c>/<c>ENOSPC</c> rather than corrupt data on a bad range.
/// Failures are reported as <see cref="BlockDeviceException"/> carrying a Linux errno.
/// </remarks>
public interface IBlockDevice : IAsyncDisposable
{
    /// <summary>Size of the device in bytes.</summary>
    long Size { get; }

    /// <summary>What the device supports beyond plain reads.</summary>
    BlockDeviceCapabilities Capabilities { get; }

    /// <summary>Smallest length and alignment the device accepts (1 for buffered files, the logical sector size for O_DIRECT).</summary>
    int MinimumBlockSize { get; }

    /// <summary>Length and alignment at which I/O is efficient (no read-modify-write).</summary>
    int PreferredBlockSize { get; }

    /// <summary>Reads <paramref name="destination"/>.Length bytes at <paramref name="offset"/> straight into caller memory.</summary>
    ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default);

    /// <summary>Writes <paramref name="source"/> at <paramref name="offset"/>; with <see cref="WriteFlags.Fua"/> the data is durable on return.</summary>
    ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, WriteFlags flags = WriteFlags.None, CancellationToken cancellationToken = default);

    /// <summary>Makes every completed write durable.</summary>
    ValueTask FlushAsync(CancellationToken cancellationToken = default);

    /// <summary>Hints that a range is no longer needed; afterwards it may read back as anything, typically zeroes.</summary>
    ValueTask TrimAsync(long offset, long length, WriteFlags flags = WriteFlags.None, CancellationToken cancellationToken = default);

    /// <summary>
    /// Makes a range read back as zeroes. With <see cref="WriteZeroesFlags.MayPunchHole"/> the device may deallocate it;
    /// with <see cref="WriteZeroesFlags.FastOnly"/> it fails with <c>ENOTSUP</c> instead of falling back to writing zeroes.
    /// </summary>
    ValueTask WriteZeroesAsync(long offset, long length, WriteZeroesFlags flags, CancellationToken cancellationToken = default);

    /// <summary>Hints that a range will be read soon (read-ahead into a cache).</summary>
    ValueTask CacheAsync(long offset, long length, CancellationToken cancellationToken = default);

    /// <summary>
    /// Appends to <paramref name="extents"/> the allocation status of a prefix of <c>[offset, offset+length)</c>, starting
    /// exactly at <paramref name="offset"/>, and returns how many bytes the appended extents cover (at least one byte, at
    /// most <paramref name="length"/>). A device without allocation information reports one data extent.
    /// </summary>
    ValueTask<long> GetExtentsAsync(long offset, long length, ExtentList extents, CancellationToken cancellationToken = default);
}
