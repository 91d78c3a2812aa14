namespace Engine.Blocks;

/// <summary>A run of bytes with one allocation status.</summary>
/// <param name="Offset">First byte.</param>
/// <param name="Length">Number of bytes, never zero.</param>
/// <param name="Flags">Allocation status, or a context-defined status word for other metadata contexts.</param>
public readonly record struct Extent(long Offset, long Length, ExtentFlags Flags)
{
    /// <summary>One past the last byte.</summary>
    public long End => Offset + Length;
}
