namespace Engine.Sources;

/// <summary>
/// One disk of a VM as a backup reads it: the point-in-time "snapshot access" Proxmox VE exports, either over NBD
/// or as a file handle. Reads outside the ranges the source yields may fail (QEMU's snapshot access returns errors
/// outside the dirty parts), so the backup engine reads nothing else.
/// </summary>
public interface IVolumeSource : IAsyncDisposable
{
    /// <summary>The device name, such as <c>drive-scsi0</c>; also the name of its index in the snapshot.</summary>
    string Device { get; }

    /// <summary>Size in bytes.</summary>
    long Size { get; }

    /// <summary>The dirty bitmap this source reports changes from, or null when it has none.</summary>
    string? Bitmap { get; }

    /// <summary>Alignment reads need (O_DIRECT descriptors), 1 when any offset works.</summary>
    int ReadAlignment { get; }

    /// <summary>Whether <see cref="DiscardAsync"/> frees space at the source.</summary>
    bool CanDiscard { get; }

    /// <summary>
    /// The dirty regions of <see cref="Bitmap"/>, ascending and non-overlapping. Only valid when a bitmap is set.
    /// </summary>
    IAsyncEnumerable<SourceRange> GetDirtyRegionsAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Ranges that may hold non-zero data, ascending and non-overlapping; everything else reads as zeroes. A source
    /// without allocation information yields the whole volume.
    /// </summary>
    IAsyncEnumerable<SourceRange> GetDataRangesAsync(CancellationToken cancellationToken);

    /// <summary>Reads exactly <paramref name="destination"/>.Length bytes at <paramref name="offset"/>.</summary>
    ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken);

    /// <summary>
    /// Reads several ranges at once: each of <paramref name="ranges"/> (absolute, inside
    /// <paramref name="offset"/> + <paramref name="destination"/>.Length) lands at its own place in
    /// <paramref name="destination"/>, the bytes between them are left alone. A source that gains from concurrency
    /// (NBD) sends them all before it waits; this default reads them one after the other.
    /// </summary>
    async ValueTask ReadRangesAsync(long offset, IReadOnlyList<SourceRange> ranges, Memory<byte> destination, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ranges);
        for (var i = 0; i < ranges.Count; i++)
        {
            var range = ranges[i];
            await ReadAsync(range.Offset, destination.Slice(checked((int)(range.Offset - offset)), checked((int)range.Length)), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Memory over the source's own pages (a mapping), when it has them, so a chunk is hashed and compressed without
    /// a copy. The memory is valid until the source is disposed.
    /// </summary>
    bool TryGetMapped(long offset, int length, out ReadOnlyMemory<byte> data);

    /// <summary>Tells a mapped source that a range was consumed and its pages may go.</summary>
    void ReleaseMapped(long offset, long length);

    /// <summary>Frees a range that is stored durably (the fleecing image shrinks). No-op when <see cref="CanDiscard"/> is false.</summary>
    ValueTask DiscardAsync(long offset, long length, CancellationToken cancellationToken);
}
