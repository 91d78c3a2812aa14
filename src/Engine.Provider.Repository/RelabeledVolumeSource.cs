using Engine.Sources;

namespace Engine.Provider.Repository;

/// <summary>
/// A volume source whose <see cref="IVolumeSource.Bitmap"/> is a lineage label (<c>NAME@GENERATION</c>) rather than
/// the QEMU bitmap's name. The backup engine matches the label against the previous snapshots, so a bitmap that PVE
/// recreated (<c>bitmap-mode new</c>) under the same name starts a new lineage and is backed up in full, while
/// <c>reuse</c> continues the lineage incrementally. Dirty regions still come from the real bitmap.
/// </summary>
internal sealed class RelabeledVolumeSource(IVolumeSource inner, string label) : IVolumeSource
{
    public string Device => inner.Device;

    public long Size => inner.Size;

    public string? Bitmap => label;

    public int ReadAlignment => inner.ReadAlignment;

    public bool CanDiscard => inner.CanDiscard;

    public IAsyncEnumerable<SourceRange> GetDirtyRegionsAsync(CancellationToken cancellationToken) => inner.GetDirtyRegionsAsync(cancellationToken);

    public IAsyncEnumerable<SourceRange> GetDataRangesAsync(CancellationToken cancellationToken) => inner.GetDataRangesAsync(cancellationToken);

    public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken) => inner.ReadAsync(offset, destination, cancellationToken);

    public ValueTask ReadRangesAsync(long offset, IReadOnlyList<SourceRange> ranges, Memory<byte> destination, CancellationToken cancellationToken) =>
        inner.ReadRangesAsync(offset, ranges, destination, cancellationToken);

    public bool TryGetMapped(long offset, int length, out ReadOnlyMemory<byte> data) => inner.TryGetMapped(offset, length, out data);

    public void ReleaseMapped(long offset, long length) => inner.ReleaseMapped(offset, length);

    public ValueTask DiscardAsync(long offset, long length, CancellationToken cancellationToken) => inner.DiscardAsync(offset, length, cancellationToken);

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
