using Engine.Backup.Repository.Chunks;
using Engine.Sources;

namespace Engine.Backup.VmBackup;

/// <summary>
/// One chunk that needs source reads: the ranges inside it to read, laid over <see cref="Base"/> (the previous
/// snapshot's chunk in an incremental backup, zeroes in a full one) unless they cover the whole chunk.
/// </summary>
internal sealed class ChunkWork(int index, long offset, int length, ChunkDigest baseDigest, ulong basePayloadChecksum)
{
    public int Index { get; } = index;

    public long Offset { get; } = offset;

    public int Length { get; } = length;

    public ChunkDigest Base { get; } = baseDigest;

    /// <summary>The payload checksum the previous snapshot's index recorded for <see cref="Base"/>.</summary>
    public ulong BasePayloadChecksum { get; } = basePayloadChecksum;

    /// <summary>Absolute ranges within the chunk, ascending.</summary>
    public List<SourceRange> Ranges { get; } = new(4);

    public long BytesToRead { get; private set; }

    public bool CoversWholeChunk => BytesToRead == Length;

    public void Add(long offset, long length)
    {
        if (Ranges.Count > 0 && Ranges[^1].End == offset)
        {
            Ranges[^1] = Ranges[^1] with { Length = Ranges[^1].Length + length };
        }
        else
        {
            Ranges.Add(new SourceRange(offset, length));
        }

        BytesToRead += length;
    }
}
