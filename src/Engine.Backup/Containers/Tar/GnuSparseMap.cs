using Engine.Blocks.Tar;

namespace Engine.Backup.Containers.Tar;

/// <summary>
/// The data regions of a sparse file as GNU tar's pax sparse format 1.0 stores them. The member's data starts with the
/// map in decimal text (<c>COUNT\n</c>, then <c>OFFSET\nLENGTH\n</c> per region) padded to 512 bytes, followed by
/// each region's bytes back to back. A file that ends in a hole gets a last region of length 0 at its size: GNU tar
/// truncates the file there, which is how the trailing hole (and an all-hole file) gets its length.
/// </summary>
/// <remarks>
/// GNU tar extracts each region in whole 512-byte blocks, dropping the rest of a region's last block, so every
/// region but the last must be a multiple of 512 long. Regions are therefore widened to 512-byte boundaries (the
/// widening reads as zeros, as holes do) and merged where they touch.
/// </remarks>
internal sealed class GnuSparseMap
{
    private readonly List<SparseRegion> _regions = [];

    /// <summary>The regions in file order, the trailing zero-length one included.</summary>
    public IReadOnlyList<SparseRegion> Regions => _regions;

    /// <summary>Bytes of the map text padded to whole blocks.</summary>
    public long MapLength { get; private set; }

    /// <summary>Bytes of file data the regions hold.</summary>
    public long DataLength { get; private set; }

    /// <summary>
    /// Builds the map of <paramref name="entry"/>. Returns false when the file is better written dense: it has no
    /// extents, is empty, or its data covers all of it.
    /// </summary>
    /// <exception cref="InvalidDataException">The extents are unordered, overlap or reach past the size.</exception>
    public bool TryBuild(ContainerEntry entry)
    {
        _regions.Clear();
        MapLength = 0;
        DataLength = 0;
        if (entry.DataExtents is not { } extents || entry.Size == 0)
        {
            return false;
        }

        var previousEnd = 0L;
        foreach (var extent in extents)
        {
            if (extent.Offset < previousEnd || extent.Length <= 0 || extent.End > entry.Size)
            {
                throw new InvalidDataException(
                    $"{entry.Path}: data extent {extent.Offset}+{extent.Length} is out of order, empty or past the size {entry.Size}");
            }

            previousEnd = extent.End;
            var start = extent.Offset & ~(long)(UstarLayout.BlockSize - 1);
            var end = Math.Min(RoundUp(extent.End), entry.Size);
            if (_regions.Count > 0 && _regions[^1].End >= start)
            {
                var last = _regions[^1];
                _regions[^1] = new SparseRegion(last.Offset, end - last.Offset);
            }
            else
            {
                _regions.Add(new SparseRegion(start, end - start));
            }
        }

        if (_regions.Count == 1 && _regions[0].Offset == 0 && _regions[0].Length == entry.Size)
        {
            _regions.Clear();
            return false;
        }

        if (_regions.Count == 0 || _regions[^1].End < entry.Size)
        {
            _regions.Add(new SparseRegion(entry.Size, 0));
        }

        var textLength = TarDecimal.Digits(_regions.Count) + 1L;
        foreach (var region in _regions)
        {
            textLength += TarDecimal.Digits(region.Offset) + 1 + TarDecimal.Digits(region.Length) + 1;
            DataLength += region.Length;
        }

        MapLength = RoundUp(textLength);
        return true;
    }

    /// <summary>
    /// Writes the map text (<see cref="MapLength"/> bytes with its padding) through <paramref name="output"/>, a
    /// little at a time: a file with many extents has a map of many blocks.
    /// </summary>
    public async ValueTask WriteAsync(TarBlockWriter output, CancellationToken cancellationToken)
    {
        var start = output.Position;
        await WriteLineAsync(output, _regions.Count, cancellationToken);
        foreach (var region in _regions)
        {
            await WriteLineAsync(output, region.Offset, cancellationToken);
            await WriteLineAsync(output, region.Length, cancellationToken);
        }

        await output.WriteZerosAsync(MapLength - (output.Position - start), cancellationToken);
    }

    private static async ValueTask WriteLineAsync(TarBlockWriter output, long value, CancellationToken cancellationToken)
    {
        var span = (await output.ReserveAsync(24, cancellationToken)).Span;
        var written = TarDecimal.Write(span, value);
        span[written++] = (byte)'\n';
        output.Advance(written);
    }

    private static long RoundUp(long value) => (value + UstarLayout.BlockSize - 1) & ~(long)(UstarLayout.BlockSize - 1);
}
