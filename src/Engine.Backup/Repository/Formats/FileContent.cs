using Engine.Backup.Containers;
using Engine.Sources;

namespace Engine.Backup.Repository.Formats;

/// <summary>
/// Where a regular file's bytes are: its data extents (holes between them) laid back to back in the archive's data
/// stream from the file's data start on. Maps a file offset to a stream position.
/// </summary>
internal sealed class FileContent
{
    private readonly SourceRange[] _extents;
    private readonly long[] _extentDataStarts;

    public FileContent(ContainerEntry entry, long dataStart)
    {
        Entry = entry;
        _extents = entry.DataExtents is { } extents ? [.. extents] : entry.Size > 0 ? [new SourceRange(0, entry.Size)] : [];
        _extentDataStarts = new long[_extents.Length];
        var data = dataStart;
        for (var i = 0; i < _extents.Length; i++)
        {
            _extentDataStarts[i] = data;
            data += _extents[i].Length;
        }
    }

    public ContainerEntry Entry { get; }

    /// <summary>
    /// What lies at file offset <paramref name="offset"/>: data (then <paramref name="dataPosition"/> is its place in
    /// the archive's data stream) or a hole; either way for <paramref name="run"/> bytes.
    /// </summary>
    public bool Locate(long offset, out long dataPosition, out long run)
    {
        // The last extent starting at or before the offset.
        int low = 0, high = _extents.Length - 1, found = -1;
        while (low <= high)
        {
            var middle = (low + high) >>> 1;
            if (_extents[middle].Offset <= offset)
            {
                found = middle;
                low = middle + 1;
            }
            else
            {
                high = middle - 1;
            }
        }

        if (found >= 0 && offset < _extents[found].End)
        {
            dataPosition = _extentDataStarts[found] + (offset - _extents[found].Offset);
            run = _extents[found].End - offset;
            return true;
        }

        dataPosition = -1;
        run = (found + 1 < _extents.Length ? _extents[found + 1].Offset : Entry.Size) - offset;
        return false;
    }
}
