namespace Engine.Sources;

/// <summary>A byte range of a volume: a dirty region of a bitmap, or a range that may hold data.</summary>
/// <param name="Offset">First byte.</param>
/// <param name="Length">Length in bytes, positive.</param>
public readonly record struct SourceRange(long Offset, long Length)
{
    /// <summary>One past the last byte.</summary>
    public long End => Offset + Length;
}
