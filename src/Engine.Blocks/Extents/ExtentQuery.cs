namespace Engine.Blocks;

/// <summary>
/// Appends extents describing a prefix of <c>[offset, offset+length)</c>, starting exactly at <paramref name="offset"/>,
/// and returns the bytes covered: the shape of <see cref="IBlockDevice.GetExtentsAsync"/>, for other sources of
/// extents such as an NBD dirty bitmap.
/// </summary>
public delegate ValueTask<long> ExtentQuery(long offset, long length, ExtentList extents, CancellationToken cancellationToken);
