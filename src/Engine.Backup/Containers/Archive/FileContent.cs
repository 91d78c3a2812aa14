using Engine.Backup.Sources;

namespace Engine.Backup.Containers.Archive;

/// <summary>
/// Where a regular file's bytes are: its data extents (holes between them) laid back to back in its chunks. Maps a
/// file offset to a position in that data stream and a data position to a chunk.
/// </summary>
internal sealed class FileContent
{
    private readonly SourceRange[] _extents;
    private readonly long[] _extentDataStarts;
    private readonly long[] _chunkStarts;

    public FileContent(ContainerEntry entry, FileChunk[] chunks)
    {
        Entry = entry;
        Chunks = chunks;
        _extents = entry.DataExtents is { } extents ? [.. extents] : entry.Size > 0 ? [new SourceRange(0, entry.Size)] : [];
        _extentDataStarts = new long[_extents.Length];
        long data = 0;
        for (var i = 0; i < _extents.Length; i++)
        {
            _extentDataStarts[i] = data;
            data += _extents[i].Length;
        }

        _chunkStarts = new long[chunks.Length];
        data = 0;
        for (var i = 0; i < chunks.Length; i++)
        {
            _chunkStarts[i] = data;
            data += chunks[i].Length;
        }
    }

    public ContainerEntry Entry { get; }

    public FileChunk[] Chunks { get; }

    /// <summary>
    /// What lies at file offset <paramref name="offset"/>: data (then <paramref name="dataPosition"/> is its place in
    /// the data stream) or a hole; either way for <paramref name="run"/> bytes.
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

    /// <summary>The chunk holding data position <paramref name="dataPosition"/>, and where in it that is.</summary>
    public int ChunkAt(long dataPosition, out int offsetInChunk)
    {
        var index = Array.BinarySearch(_chunkStarts, dataPosition);
        if (index < 0)
        {
            index = ~index - 1;
        }

        offsetInChunk = (int)(dataPosition - _chunkStarts[index]);
        return index;
    }
}
