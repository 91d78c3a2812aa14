namespace Engine.Backup.Repository.Formats;

/// <summary>The archive's data stream as its chunks: finds the chunk holding a stream position.</summary>
internal sealed class DataStream
{
    private readonly long[] _starts;

    public DataStream(FileChunk[] chunks)
    {
        Chunks = chunks;
        _starts = new long[chunks.Length];
        long position = 0;
        for (var i = 0; i < chunks.Length; i++)
        {
            _starts[i] = position;
            position += chunks[i].Length;
        }

        Length = position;
    }

    public FileChunk[] Chunks { get; }

    public long Length { get; }

    /// <summary>The chunk holding stream position <paramref name="position"/>, and where in it that is.</summary>
    public int ChunkAt(long position, out int offsetInChunk)
    {
        var index = Array.BinarySearch(_starts, position);
        if (index < 0)
        {
            index = ~index - 1;
        }

        offsetInChunk = (int)(position - _starts[index]);
        return index;
    }
}
