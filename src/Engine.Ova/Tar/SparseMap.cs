namespace Engine.Ova.Tar;

/// <summary>One run of data in a sparse member: <see cref="Length"/> stored bytes belong at <see cref="Offset"/> of the file.</summary>
/// <param name="Offset">Where the run starts in the file.</param>
/// <param name="Length">How many bytes it holds (0 for GNU tar's end marker).</param>
internal readonly record struct SparseRegion(long Offset, long Length)
{
    /// <summary>The file offset just past the run.</summary>
    public long End => Offset + Length;
}

/// <summary>
/// The map of a GNU sparse member (<c>tar --sparse</c>): the file is <see cref="RealSize"/> bytes long, holes (zeros)
/// everywhere except in the regions, whose bytes are stored one after the other as the member's data.
/// </summary>
internal sealed class SparseMap
{
    /// <summary>Most regions accepted (16 bytes each in memory); a raw disk packed by GNU tar has one per data run.</summary>
    public const int MaxRegions = 1 << 20;

    private SparseMap(IReadOnlyList<SparseRegion> regions, long realSize, long dataBytes)
    {
        Regions = regions;
        RealSize = realSize;
        DataBytes = dataBytes;
    }

    /// <summary>The data regions, in file order, not overlapping.</summary>
    public IReadOnlyList<SparseRegion> Regions { get; }

    /// <summary>The file's size once expanded.</summary>
    public long RealSize { get; }

    /// <summary>The bytes stored for the regions (their lengths added up).</summary>
    public long DataBytes { get; }

    /// <summary>
    /// Checks a map as an archive gives it: regions in order, not overlapping, inside the file. A map that breaks any of
    /// these would make an extractor write a region twice or past the end, so it is refused, not repaired.
    /// </summary>
    /// <param name="regions">The regions in archive order.</param>
    /// <param name="realSize">The expanded size.</param>
    /// <param name="describe">Names the member and header offset, for messages.</param>
    /// <exception cref="OvaFormatException">The map is out of order, overlaps, runs past the size or is too long.</exception>
    public static SparseMap Create(List<SparseRegion> regions, long realSize, Func<string, OvaFormatException> describe)
    {
        ArgumentNullException.ThrowIfNull(regions);
        ArgumentNullException.ThrowIfNull(describe);
        if (realSize < 0)
        {
            throw describe($"sparse size {realSize} is negative");
        }

        if (regions.Count > MaxRegions)
        {
            throw describe($"sparse map of {regions.Count} regions (limit {MaxRegions})");
        }

        long end = 0;
        long data = 0;
        for (var i = 0; i < regions.Count; i++)
        {
            var (offset, length) = (regions[i].Offset, regions[i].Length);
            if (offset < 0 || length < 0)
            {
                throw describe($"sparse map entry {i} (offset {offset}, {length} bytes) is negative");
            }

            if (offset < end)
            {
                throw describe($"sparse map entry {i} (offset {offset}, {length} bytes) overlaps or comes before the previous one, which ends at {end}");
            }

            if (length > realSize - offset)
            {
                throw describe($"sparse map entry {i} (offset {offset}, {length} bytes) runs past the file's size {realSize}");
            }

            end = offset + length;
            data += length;
        }

        return new SparseMap(regions, realSize, data);
    }
}
