using Engine.Blocks.Buffers;
using Engine.Qcow2.Format;

namespace Engine.Qcow2.Reading;

/// <summary>
/// Maps guest offsets to runs (<see cref="ClusterRun"/>) through the L1 table and the cached L2 tables. A run ends at
/// a change of kind, a break in host contiguity, an L2 table boundary or after <see cref="WindowWords"/> words of
/// one table, so one lookup copies a bounded slice of entries under the cache lock.
/// </summary>
internal sealed class ClusterMapper
{
    /// <summary>64-bit words of L2 entries copied per lookup (64 extended or 128 standard entries).</summary>
    private const int WindowWords = 128;

    private readonly Qcow2Image _image;
    private readonly L2Cache _cache;
    private readonly int _clusterBits;
    private readonly int _l2Shift;
    private readonly int _entryWords;
    private readonly bool _extended;
    private readonly bool _version2;
    private readonly ulong _clusterMask;

    public ClusterMapper(Qcow2Image image, long cacheBytes)
    {
        _image = image;
        var layout = image.Layout;
        _clusterBits = layout.ClusterBits;
        _l2Shift = layout.ClusterBits + layout.L2Bits;
        _extended = layout.ExtendedL2;
        _entryWords = _extended ? 2 : 1;
        _version2 = image.Header.Version == 2;
        _clusterMask = (ulong)layout.ClusterSize - 1;
        var slots = (int)Math.Clamp(cacheBytes / layout.ClusterSize, 1, Math.Max(image.L1.Length, 1));
        _cache = new L2Cache(slots, layout.ClusterSize / 8);
    }

    /// <summary>The run starting at <paramref name="offset"/>, at most <paramref name="maxLength"/> bytes (offset and length inside the disk).</summary>
    /// <exception cref="Qcow2FormatException">An L2 table or entry is invalid.</exception>
    public ClusterRun Map(long offset, long maxLength)
    {
        var l1Index = offset >> _l2Shift;
        var tableEnd = (l1Index + 1) << _l2Shift;
        var limit = Math.Min(offset + maxLength, tableEnd);
        var l2Offset = (long)new L1Entry(_image.L1[l1Index]).L2Offset;
        if (l2Offset == 0)
        {
            return new ClusterRun(ClusterRunKind.Unallocated, limit - offset, 0);
        }

        var clusterSize = 1L << _clusterBits;
        var firstEntry = (int)((offset >> _clusterBits) & ((1L << (_l2Shift - _clusterBits)) - 1));
        var entries = (int)Math.Min((limit - 1 - (offset & ~(clusterSize - 1)) >> _clusterBits) + 1, WindowWords / _entryWords);
        limit = Math.Min(limit, (offset & ~(clusterSize - 1)) + (entries * clusterSize));

        Span<ulong> words = stackalloc ulong[WindowWords];
        words = words[..(entries * _entryWords)];
        if (!_cache.TryCopy(l2Offset, firstEntry * _entryWords, words))
        {
            Load(l2Offset, l1Index, firstEntry, words);
        }

        var unitBits = _extended ? _clusterBits - 5 : _clusterBits;
        var first = Classify(words, 0, offset, l2Offset, firstEntry, out var host);
        if (first == ClusterRunKind.Compressed)
        {
            return new ClusterRun(first, Math.Min(limit, (offset | (long)_clusterMask) + 1) - offset, host);
        }

        var runHost = host;
        var position = ((offset >> unitBits) + 1) << unitBits;
        while (position < limit)
        {
            var entry = (int)((position - (offset & ~(clusterSize - 1))) >> _clusterBits);
            var kind = Classify(words, entry, position, l2Offset, firstEntry + entry, out host);
            if (kind != first || (kind == ClusterRunKind.Data && host != runHost + (ulong)(position - offset)))
            {
                break;
            }

            position += 1L << unitBits;
        }

        return new ClusterRun(first, Math.Min(position, limit) - offset, runHost);
    }

    /// <summary>What the unit (cluster or subcluster) holding <paramref name="offset"/> is; for data, the host offset of <paramref name="offset"/>.</summary>
    private ClusterRunKind Classify(ReadOnlySpan<ulong> words, int entry, long offset, long l2Offset, int l2Index, out ulong host)
    {
        host = 0;
        var raw = words[entry * _entryWords];
        if ((raw & L2Entry.CompressedFlag) != 0)
        {
            if (_extended && words[(entry * 2) + 1] != 0)
            {
                throw Invalid(l2Offset, l2Index, "a compressed cluster has a nonzero subcluster bitmap");
            }

            if (_image.HasExternalData)
            {
                throw Invalid(l2Offset, l2Index, "a compressed cluster in an image with an external data file");
            }

            host = raw;
            return ClusterRunKind.Compressed;
        }

        var cluster = raw & L2Entry.OffsetMask;
        var allocated = cluster != 0 || (_image.HasExternalData && (raw & L2Entry.CopiedFlag) != 0);
        if (allocated && (cluster & _clusterMask) != 0)
        {
            throw Invalid(l2Offset, l2Index, $"host cluster offset {cluster} is not a multiple of the cluster size");
        }

        if (!_extended)
        {
            if ((raw & L2Entry.ZeroFlag) != 0)
            {
                return _version2 ? throw Invalid(l2Offset, l2Index, "a zero cluster in a version 2 image") : ClusterRunKind.Zero;
            }

            if (!allocated)
            {
                return ClusterRunKind.Unallocated;
            }

            host = cluster + ((ulong)offset & _clusterMask);
            return ClusterRunKind.Data;
        }

        var bitmap = new SubclusterBitmap(words[(entry * 2) + 1]);
        var subcluster = (int)(((ulong)offset & _clusterMask) >> (_clusterBits - 5));
        if (!allocated)
        {
            return bitmap.Allocated != 0
                ? throw Invalid(l2Offset, l2Index, "subclusters are marked allocated in a cluster without a host offset")
                : bitmap.IsZero(subcluster) ? ClusterRunKind.Zero : ClusterRunKind.Unallocated;
        }

        if (bitmap.IsContradictory)
        {
            throw Invalid(l2Offset, l2Index, "a subcluster is marked both allocated and zero");
        }

        if (bitmap.IsAllocated(subcluster))
        {
            host = cluster + ((ulong)offset & _clusterMask);
            return ClusterRunKind.Data;
        }

        return bitmap.IsZero(subcluster) ? ClusterRunKind.Zero : ClusterRunKind.Unallocated;
    }

    private void Load(long l2Offset, long l1Index, int firstEntry, Span<ulong> words)
    {
        var clusterSize = 1 << _clusterBits;
        using var table = BufferPool.Shared.Rent(clusterSize);
        _image.ReadL2Table(l2Offset, l1Index, table.Span);
        _cache.Insert(l2Offset, table.Span);

        // Decode the wanted entries from the loaded copy: the cache may already have replaced it under a crowd of misses.
        L2Cache.Decode(table.Span.Slice(firstEntry * _entryWords * 8, words.Length * 8), words);
    }

    private Qcow2FormatException Invalid(long l2Offset, int l2Index, string what) =>
        new(_image.Path, l2Offset + ((long)l2Index * _entryWords * 8), $"invalid L2 entry {l2Index}: {what}");
}
