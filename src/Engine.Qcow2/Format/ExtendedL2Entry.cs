namespace Engine.Qcow2.Format;

/// <summary>A 128-bit extended L2 entry: the standard descriptor (whose bit 0 is unused) and the subcluster bitmap.</summary>
/// <param name="Entry">The first 64 bits.</param>
/// <param name="Bitmap">The subcluster allocation bitmap.</param>
public readonly record struct ExtendedL2Entry(L2Entry Entry, SubclusterBitmap Bitmap)
{
    /// <summary>Width of an extended entry.</summary>
    public const int Size = 16;

    /// <summary>Reads the 16-byte entry at the start of <paramref name="data"/>.</summary>
    public static ExtendedL2Entry Parse(ReadOnlySpan<byte> data) =>
        new(L2Entry.Parse(data), SubclusterBitmap.Parse(data[8..]));

    /// <summary>Writes the entry as 16 big-endian bytes; returns 16.</summary>
    public int WriteTo(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Size, nameof(destination));
        Entry.WriteTo(destination);
        Bitmap.WriteTo(destination[8..]);
        return Size;
    }
}
