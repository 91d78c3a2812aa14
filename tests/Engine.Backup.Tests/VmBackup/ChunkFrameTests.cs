using Engine.Backup.Repository.Chunks;
using Engine.Backup.Tests.Repository;
using Engine.Blocks.Buffers;

namespace Engine.Backup.Tests.VmBackup;

/// <summary>
/// A backup receives each chunk behind room for its header and stores it from there (<see cref="ChunkFile.EncodeInFrame"/>):
/// the stored bytes must be exactly those <see cref="ChunkFile.Encode"/> makes from a separate copy.
/// </summary>
public sealed class ChunkFrameTests
{
    public static TheoryData<string, int> Contents => new()
    {
        { "random", 4 << 20 },
        { "compressible", 4 << 20 },
        { "random", 1000 },        // short last chunk of a disk, below the compression probe
        { "compressible", 200_000 },
    };

    [Theory]
    [MemberData(nameof(Contents))]
    public void A_chunk_encoded_in_its_frame_is_the_same_file_as_one_encoded_from_a_copy(string kind, int length)
    {
        var data = kind == "random" ? TempRepository.Random(length, length) : TempRepository.Compressible(length, length);
        var expected = new byte[ChunkFile.EncodedBound(length)];
        var expectedLength = ChunkFile.Encode(data, expected, level: 3);

        using var frame = BufferPool.Shared.Rent(ChunkHeader.Size + length);
        data.CopyTo(frame.Span[ChunkHeader.Size..]);
        var storedLength = ChunkFile.EncodeInFrame(frame.Span, length, level: 3);

        Assert.Equal(expectedLength, storedLength);
        Assert.True(expected.AsSpan(0, expectedLength).SequenceEqual(frame.Span[..storedLength]), $"{kind} {length}: the stored bytes differ");
        Assert.Equal(kind == "random", storedLength == ChunkHeader.Size + length); // random data stays raw
    }
}
