using System.Buffers.Binary;
using Engine.Blocks;
using Engine.Blocks.Devices;
using Engine.Qcow2.Format;
using Engine.Qcow2.Reading;

namespace Engine.Qcow2.Bitmaps;

/// <summary>
/// A persistent dirty bitmap of a qcow2 image (the bitmaps extension), loaded whole into memory and reported as
/// extents: status 1 (dirty) where a write happened while the bitmap was enabled, 0 elsewhere, at the bitmap's
/// granularity, as qemu's <c>qemu:dirty-bitmap:NAME</c> meta context reports it.
/// </summary>
/// <remarks>
/// As qemu does, the bitmaps are ignored unless the image's bitmaps auto-clear bit says they are consistent, and a
/// bitmap marked in use (not saved cleanly) is refused.
/// </remarks>
public sealed class PersistentBitmap
{
    /// <summary>The status word of a dirty extent (<c>NBD_STATE_DIRTY</c>).</summary>
    public const ExtentFlags Dirty = (ExtentFlags)1;

    private readonly byte[] _bits;
    private readonly int _granularityBits;

    private PersistentBitmap(BitmapDirectoryEntry entry, long diskSize, byte[] bits)
    {
        Entry = entry;
        DiskSize = diskSize;
        _bits = bits;
        _granularityBits = entry.GranularityBits;
    }

    /// <summary>The bitmap's directory entry (name, granularity, flags).</summary>
    public BitmapDirectoryEntry Entry { get; }

    /// <summary>The bitmap's name.</summary>
    public string Name => Entry.Name;

    /// <summary>Bytes of the disk one bit covers.</summary>
    public long Granularity => Entry.Granularity;

    /// <summary>The size of the disk the bitmap covers.</summary>
    public long DiskSize { get; }

    /// <summary>The bitmaps of <paramref name="image"/>: none when it has no bitmaps extension or its bitmaps are not marked consistent.</summary>
    /// <exception cref="Qcow2FormatException">The extension or the directory is malformed.</exception>
    public static IReadOnlyList<BitmapDirectoryEntry> List(Qcow2BlockDevice image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var source = image.Image;
        var extension = source.Extensions.FirstOrDefault(e => e.Type == Qcow2HeaderExtensionType.Bitmaps);
        if (extension is null || (source.Header.AutoclearFeatures & Qcow2AutoclearFeatures.Bitmaps) == 0)
        {
            return [];
        }

        var bitmaps = Qcow2BitmapsExtension.Parse(extension.Data.Span, -1, source.Path);
        if (!source.Layout.IsClusterAligned(bitmaps.DirectoryOffset))
        {
            throw new Qcow2FormatException(source.Path, (long)bitmaps.DirectoryOffset, "the bitmap directory is not cluster aligned");
        }

        // Checked against the file before the buffer (up to 64 MiB) is allocated, so a lying size costs nothing.
        if (bitmaps.DirectoryOffset > (ulong)source.File.Length || bitmaps.DirectorySize > (ulong)source.File.Length - bitmaps.DirectoryOffset)
        {
            throw new Qcow2FormatException(source.Path, (long)Math.Min(bitmaps.DirectoryOffset, long.MaxValue),
                $"the bitmap directory ({bitmaps.DirectorySize} bytes) runs past the end of the file ({source.File.Length} bytes)");
        }

        var directory = new byte[(int)bitmaps.DirectorySize];
        source.File.ReadMetadata((long)Math.Min(bitmaps.DirectoryOffset, long.MaxValue), directory, "the bitmap directory");
        return BitmapDirectoryEntry.ParseDirectory(directory, bitmaps.BitmapCount, (long)bitmaps.DirectoryOffset, source.Path);
    }

    /// <summary>Loads the bitmap called <paramref name="name"/>.</summary>
    /// <param name="image">The image (its top layer: bitmaps of backing files are not the image's).</param>
    /// <param name="name">The bitmap's name.</param>
    /// <param name="options">Limits; <see cref="Qcow2ReaderOptions.Default"/> when null.</param>
    /// <exception cref="KeyNotFoundException">The image has no consistent bitmap of that name.</exception>
    /// <exception cref="Qcow2FormatException">The bitmap is in use (inconsistent), of an unknown type, too large, or its tables are malformed.</exception>
    public static PersistentBitmap Load(Qcow2BlockDevice image, string name, Qcow2ReaderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(name);
        options ??= Qcow2ReaderOptions.Default;
        var entry = List(image).FirstOrDefault(e => e.Name == name)
            ?? throw new KeyNotFoundException($"{image.Path}: no persistent bitmap named '{name}'");
        var source = image.Image;
        var at = (long)entry.TableOffset;
        if ((entry.Flags & BitmapFlags.InUse) != 0)
        {
            throw new Qcow2FormatException(source.Path, -1, $"bitmap '{name}' is marked in use: it was not saved cleanly and may be inconsistent");
        }

        if (entry.Type != BitmapDirectoryEntry.DirtyTrackingType || (entry.Flags & ~BitmapFlags.Known) != 0 ||
            entry.GranularityBits is < BitmapDirectoryEntry.MinGranularityBits or > BitmapDirectoryEntry.MaxGranularityBits ||
            (entry.ExtraData.Length > 0 && (entry.Flags & BitmapFlags.ExtraDataCompatible) == 0))
        {
            throw new Qcow2FormatException(source.Path, -1,
                $"bitmap '{name}' has type {entry.Type}, flags 0x{(uint)entry.Flags:x}, granularity bits {entry.GranularityBits} or extra data Engine cannot use");
        }

        var dataBytes = entry.DataBytesFor((ulong)image.Size);
        if (dataBytes > (ulong)options.MaxBitmapBytes)
        {
            throw new Qcow2FormatException(source.Path, -1, $"bitmap '{name}' needs {dataBytes} bytes, more than the limit of {options.MaxBitmapBytes}");
        }

        var clusterSize = source.Layout.ClusterSize;
        var expectedTable = source.Layout.ClustersFor(dataBytes);
        if (entry.TableSize != expectedTable)
        {
            throw new Qcow2FormatException(source.Path, at, $"bitmap '{name}' has {entry.TableSize} table entries, a disk of {image.Size} bytes needs {expectedTable}");
        }

        if (!source.Layout.IsClusterAligned(entry.TableOffset))
        {
            throw new Qcow2FormatException(source.Path, at, $"bitmap '{name}''s table is not cluster aligned");
        }

        var table = new byte[entry.TableSize * 8];
        source.File.ReadMetadata(at, table, $"the table of bitmap '{name}'");
        var bits = new byte[dataBytes];
        for (var i = 0; i < (int)entry.TableSize; i++)
        {
            var tableEntry = new BitmapTableEntry(BinaryPrimitives.ReadUInt64BigEndian(table.AsSpan(i * 8)));
            var part = bits.AsSpan(i * clusterSize, (int)Math.Min(clusterSize, bits.Length - ((long)i * clusterSize)));
            if (tableEntry.HasReservedBits || !source.Layout.IsClusterAligned(tableEntry.DataOffset))
            {
                throw new Qcow2FormatException(source.Path, at + (i * 8), $"bitmap '{name}': invalid table entry {i}");
            }

            if (tableEntry.DataOffset != 0)
            {
                source.File.ReadMetadata((long)tableEntry.DataOffset, part, $"data cluster {i} of bitmap '{name}'");
            }
            else if (tableEntry.ReadsAsOnes)
            {
                part.Fill(0xff);
            }
        }

        return new PersistentBitmap(entry, image.Size, bits);
    }

    /// <summary>Extents of <c>[offset, offset+length)</c>: <see cref="Dirty"/> or 0, merged where equal. The shape of <see cref="ExtentQuery"/>.</summary>
    public ValueTask<long> GetExtentsAsync(long offset, long length, ExtentList extents, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ArgumentNullException.ThrowIfNull(extents);
        DeviceRange.CheckNonEmpty(offset, length, DiskSize, "bitmap status", Name);
        var end = offset + length;
        var position = offset;
        while (position < end)
        {
            var granule = position >> _granularityBits;
            var dirty = IsSet(granule);
            var next = Math.Min(NextChange(granule, dirty, ((end - 1) >> _granularityBits) + 1) << _granularityBits, end);
            extents.Add(position, next - position, dirty ? Dirty : 0);
            position = next;
        }

        return ValueTask.FromResult(length);
    }

    private bool IsSet(long granule) => ((_bits[granule >> 3] >> (int)(granule & 7)) & 1) != 0;

    /// <summary>The first granule after <paramref name="granule"/> whose bit differs from <paramref name="dirty"/>, or <paramref name="limit"/>.</summary>
    private long NextChange(long granule, bool dirty, long limit)
    {
        var g = granule + 1;
        while (g < limit && (g & 7) != 0)
        {
            if (IsSet(g) != dirty)
            {
                return g;
            }

            g++;
        }

        if (g >= limit)
        {
            return limit;
        }

        // Whole bytes of the same state are skipped with a vectorised search.
        var bytes = _bits.AsSpan((int)(g >> 3), (int)(((limit - g) + 7) >> 3));
        var differs = bytes.IndexOfAnyExcept(dirty ? (byte)0xff : (byte)0);
        if (differs < 0)
        {
            return limit;
        }

        g += (long)differs * 8;
        while (g < limit && IsSet(g) == dirty)
        {
            g++;
        }

        return Math.Min(g, limit);
    }
}
