namespace Engine.Backup.Containers.Tar;

/// <summary>A run of data in a sparse file; length 0 marks the end of a file that ends in a hole.</summary>
internal readonly record struct SparseRegion(long Offset, long Length)
{
    public long End => Offset + Length;
}
