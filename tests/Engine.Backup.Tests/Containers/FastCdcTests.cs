using System.Security.Cryptography;
using Engine.Backup.Containers.Chunking;

namespace Engine.Backup.Tests.Containers;

public sealed class FastCdcTests
{
    private static readonly FastCdc Chunker = FastCdc.Default;

    [Fact]
    public void Boundaries_are_deterministic_and_respect_min_and_max()
    {
        var data = Random(12 << 20, seed: 1);
        var first = Cut(data);
        var second = Cut(data);
        Assert.Equal(first, second);
        Assert.Equal(data.Length, first.Sum());
        for (var i = 0; i < first.Count; i++)
        {
            Assert.InRange(first[i], i == first.Count - 1 ? 1 : FastCdc.DefaultMinSize, FastCdc.DefaultMaxSize);
        }

        // Normalized chunking keeps the mean near the average (random data: between min and max, close to avg).
        var mean = first.Take(first.Count - 1).Average();
        Assert.InRange(mean, FastCdc.DefaultAverageSize * 0.6, FastCdc.DefaultAverageSize * 1.6);
    }

    [Fact]
    public void Data_without_cut_points_is_cut_at_the_maximum()
    {
        var zeros = new byte[(3 << 20) + 5];
        var cuts = Cut(zeros);
        Assert.Equal([FastCdc.DefaultMaxSize, FastCdc.DefaultMaxSize, FastCdc.DefaultMaxSize, 5], cuts);
    }

    [Fact]
    public void A_tail_below_the_minimum_is_one_chunk_and_a_short_stream_one_chunk()
    {
        Assert.Equal(1000, Chunker.NextCut(Random(1000, 2)));
        Assert.Equal(FastCdc.DefaultMinSize, Chunker.NextCut(Random(FastCdc.DefaultMinSize, 3)));
        Assert.Equal(0, Chunker.NextCut([]));
    }

    [Fact]
    public void Inserting_bytes_at_the_front_changes_only_the_first_chunks()
    {
        var data = Random(16 << 20, seed: 4);
        var shifted = new byte[data.Length + 1000];
        RandomNumberGenerator.Fill(shifted.AsSpan(0, 1000));
        data.CopyTo(shifted, 1000);

        var original = Digests(data);
        var moved = Digests(shifted);
        var common = original.Intersect(moved).Count();
        // Only the chunk the insertion lands in (and at most the next) differ.
        Assert.True(common >= original.Count - 2, $"{common} of {original.Count} chunks survived a 1000-byte insertion at the front");
        Assert.True(original.Count >= 30, $"16 MiB should give dozens of chunks, got {original.Count}");
    }

    [Fact]
    public void Cutting_through_a_window_gives_the_same_boundaries_as_the_whole_stream()
    {
        // What the backup does: a buffer of at least max bytes, cut, move the rest to the front, refill.
        var data = Random(7 << 20, seed: 5);
        var whole = Cut(data);
        var windowed = new List<int>();
        var position = 0;
        while (position < data.Length)
        {
            var window = data.AsSpan(position, Math.Min(FastCdc.DefaultMaxSize, data.Length - position));
            var cut = Chunker.NextCut(window);
            windowed.Add(cut);
            position += cut;
        }

        Assert.Equal(whole, windowed);
    }

    [Theory]
    [InlineData(64 << 10, 100_000, 1 << 20)]
    [InlineData(64 << 10, 256 << 10, 64 << 10)]
    [InlineData(0, 256 << 10, 1 << 20)]
    [InlineData(64 << 10, 256 << 10, 64 << 20)]
    public void Bad_sizes_are_rejected(int min, int average, int max) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new FastCdc(min, average, max));

    private static List<int> Cut(byte[] data)
    {
        var cuts = new List<int>();
        var position = 0;
        while (position < data.Length)
        {
            var cut = Chunker.NextCut(data.AsSpan(position));
            Assert.True(cut > 0);
            cuts.Add(cut);
            position += cut;
        }

        return cuts;
    }

    private static List<string> Digests(byte[] data)
    {
        var digests = new List<string>();
        var position = 0;
        foreach (var cut in Cut(data))
        {
            digests.Add(Convert.ToHexString(SHA256.HashData(data.AsSpan(position, cut))));
            position += cut;
        }

        return digests;
    }

    private static byte[] Random(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
