using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Engine.Backup.Repository.Chunks;

namespace Engine.Backup.Containers.Chunking;

/// <summary>
/// FastCDC content-defined chunking (Xia et al., USENIX ATC 2016) with normalized chunking, level 2: a gear rolling
/// hash <c>fp = (fp &lt;&lt; 1) + Gear[byte]</c> cuts where the masked bits are zero, with a stricter mask (two bits more
/// than the average needs) before the average size and a looser one (two bits fewer) after it, so chunk sizes
/// cluster around the average. A cut depends only on the bytes since the previous cut, so inserting or deleting bytes
/// moves the boundaries of the chunk it lands in and perhaps the next, and the rest of the file dedups as before.
/// </summary>
/// <remarks>
/// Default sizes 64 KiB / 256 KiB / 1 MiB: small enough that a one-byte change in a large file stores about 256 KiB
/// again, large enough that a root filesystem of a few GiB makes only thousands of chunk files and the catalog stays
/// small (36 bytes per chunk). Files smaller than the minimum are one chunk each. The gear table and the masks define
/// where chunks start: changing either changes every boundary and so loses deduplication against older backups.
/// </remarks>
internal readonly struct FastCdc
{
    /// <summary>Default smallest chunk (except a stream's last).</summary>
    public const int DefaultMinSize = 64 << 10;

    /// <summary>Default average chunk size the masks aim at.</summary>
    public const int DefaultAverageSize = 256 << 10;

    /// <summary>Default largest chunk.</summary>
    public const int DefaultMaxSize = 1 << 20;

    private static readonly ulong[] Gear = BuildGear();

    private readonly ulong _maskSmall;
    private readonly ulong _maskLarge;

    /// <summary>Creates a chunker.</summary>
    /// <exception cref="ArgumentOutOfRangeException">
    /// The average is not a power of two between 256 B and 8 MiB, or not <c>min &lt; average &lt; max &lt;= </c><see cref="ChunkStore.MaxChunkLength"/>.
    /// </exception>
    public FastCdc(int minSize, int averageSize, int maxSize)
    {
        if (averageSize < 256 || averageSize > (8 << 20) || !BitOperations.IsPow2(averageSize))
        {
            throw new ArgumentOutOfRangeException(nameof(averageSize), averageSize, "the average chunk size must be a power of two from 256 B to 8 MiB");
        }

        if (minSize <= 0 || minSize >= averageSize)
        {
            throw new ArgumentOutOfRangeException(nameof(minSize), minSize, $"the minimum chunk size must be positive and below the average ({averageSize})");
        }

        if (maxSize <= averageSize || maxSize > ChunkStore.MaxChunkLength)
        {
            throw new ArgumentOutOfRangeException(nameof(maxSize), maxSize, $"the maximum chunk size must be above the average ({averageSize}) and at most {ChunkStore.MaxChunkLength}");
        }

        MinSize = minSize;
        AverageSize = averageSize;
        MaxSize = maxSize;
        var bits = BitOperations.Log2((uint)averageSize);
        _maskSmall = TopBits(bits + 2);
        _maskLarge = TopBits(bits - 2);
    }

    /// <summary>The chunker with the default sizes, 64 KiB / 256 KiB / 1 MiB.</summary>
    public static FastCdc Default { get; } = new(DefaultMinSize, DefaultAverageSize, DefaultMaxSize);

    /// <summary>Smallest chunk, except the last of a stream.</summary>
    public int MinSize { get; }

    /// <summary>The size the masks aim at.</summary>
    public int AverageSize { get; }

    /// <summary>Largest chunk.</summary>
    public int MaxSize { get; }

    /// <summary>
    /// The length of the chunk that starts at <paramref name="data"/>[0]. The answer is the one the whole stream would
    /// give as long as <paramref name="data"/> holds at least <see cref="MaxSize"/> bytes or everything up to the
    /// stream's end; when it is the end, a tail shorter than <see cref="MinSize"/> is one chunk.
    /// </summary>
    public int NextCut(ReadOnlySpan<byte> data)
    {
        if (data.Length <= MinSize)
        {
            return data.Length;
        }

        var limit = Math.Min(data.Length, MaxSize);
        var normal = Math.Min(limit, AverageSize);
        ref var gear = ref MemoryMarshal.GetArrayDataReference(Gear);
        ref var bytes = ref MemoryMarshal.GetReference(data);
        ulong fingerprint = 0;
        var i = MinSize;
        for (; i < normal; i++)
        {
            fingerprint = (fingerprint << 1) + Unsafe.Add(ref gear, Unsafe.Add(ref bytes, i));
            if ((fingerprint & _maskSmall) == 0)
            {
                return i + 1;
            }
        }

        for (; i < limit; i++)
        {
            fingerprint = (fingerprint << 1) + Unsafe.Add(ref gear, Unsafe.Add(ref bytes, i));
            if ((fingerprint & _maskLarge) == 0)
            {
                return i + 1;
            }
        }

        return limit;
    }

    /// <summary>
    /// The highest bits: with a left-shifting gear hash, bit k depends on the last k+1 bytes, so the top bits give the
    /// widest window (about 64 bytes).
    /// </summary>
    private static ulong TopBits(int count) => ulong.MaxValue << (64 - count);

    /// <summary>256 pseudo-random words from splitmix64 with a fixed seed: the same table in every version, forever.</summary>
    private static ulong[] BuildGear()
    {
        var table = new ulong[256];
        var state = 0x454E_4749_4E45_4344UL; // "ENGINECD"
        for (var i = 0; i < table.Length; i++)
        {
            state += 0x9E37_79B9_7F4A_7C15UL;
            var z = state;
            z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EBUL;
            table[i] = z ^ (z >> 31);
        }

        return table;
    }
}
