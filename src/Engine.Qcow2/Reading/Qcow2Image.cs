using System.Buffers.Binary;
using System.Text;
using Engine.Qcow2.Format;

namespace Engine.Qcow2.Reading;

/// <summary>
/// The checked metadata of one qcow2 file: header, header extensions, backing file name and format, the active L1
/// table, and the file that holds guest data (the image itself or its external data file). Everything a hostile file
/// could lie about is checked here, once, and named by file and offset.
/// </summary>
internal sealed class Qcow2Image : IDisposable
{
    /// <summary>Bytes read before the cluster size is known: any header, and usually its extensions too.</summary>
    private const int HeaderProbeLength = 4096;

    private Qcow2Image(ImageFile file, Qcow2Header header, IReadOnlyList<Qcow2HeaderExtension> extensions, long extensionsOffset,
        ulong[] l1, string? backingName, string? backingFormat)
    {
        File = file;
        Header = header;
        Layout = header.Layout;
        Extensions = extensions;
        ExtensionsOffset = extensionsOffset;
        L1 = l1;
        BackingName = backingName;
        BackingFormat = backingFormat;
        DataFile = file;
    }

    /// <summary>The qcow2 file.</summary>
    public ImageFile File { get; }

    /// <summary>The file guest clusters are read from: <see cref="File"/>, or the external data file.</summary>
    public ImageFile DataFile { get; private set; }

    /// <summary>Whether guest data lives in an external data file.</summary>
    public bool HasExternalData => (Header.IncompatibleFeatures & Qcow2IncompatibleFeatures.ExternalDataFile) != 0;

    /// <summary>The parsed header.</summary>
    public Qcow2Header Header { get; }

    /// <summary>The table geometry.</summary>
    public Qcow2Layout Layout { get; }

    /// <summary>The header extensions, in file order.</summary>
    public IReadOnlyList<Qcow2HeaderExtension> Extensions { get; }

    /// <summary>File offset where the header extensions start.</summary>
    public long ExtensionsOffset { get; }

    /// <summary>The active L1 table, decoded.</summary>
    public ulong[] L1 { get; }

    /// <summary>
    /// Whether qemu would take the image for one made with <c>preallocation=metadata</c> and then report holes of the
    /// file under data clusters as zeroes (see <see cref="DetectMetadataPreallocation"/>).
    /// </summary>
    public bool MetadataPreallocation { get; private set; }

    /// <summary>The backing file name as stored, or null.</summary>
    public string? BackingName { get; }

    /// <summary>The backing format from the header extension, or null (then probed).</summary>
    public string? BackingFormat { get; }

    /// <summary>The virtual disk size.</summary>
    public long Size => (long)Header.Size;

    /// <summary>The path of the qcow2 file.</summary>
    public string Path => File.Path;

    /// <summary>Opens and checks the qcow2 file at <paramref name="path"/>.</summary>
    /// <param name="path">The image.</param>
    /// <param name="externalFiles">Which external data file the image may name (and whether it may name a backing file at all).</param>
    /// <param name="file">The image already opened (a backing file whose identity was checked), or null to open <paramref name="path"/>.</param>
    /// <exception cref="Qcow2FormatException">The file is not a qcow2 image Engine can read; the message says where and why.</exception>
    /// <exception cref="Qcow2ExternalFileException">The image names a file <paramref name="externalFiles"/> does not allow.</exception>
    public static Qcow2Image Open(string path, Qcow2ExternalFiles externalFiles, ImageFile? file = null)
    {
        file ??= ImageFile.Open(path);
        try
        {
            return Load(file, externalFiles);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static Qcow2Image Load(ImageFile file, Qcow2ExternalFiles externalFiles)
    {
        var path = file.Path;
        var start = new byte[(int)Math.Min(file.Length, HeaderProbeLength)];
        file.ReadMetadata(0, start, "the header");
        var header = Qcow2Header.Parse(start, path);
        CheckFeatures(file, header, start);

        // The first cluster holds the header, its extensions and the backing file name.
        var clusterSize = header.ClusterSize;
        var first = new byte[(int)Math.Min(file.Length, clusterSize)];
        file.ReadMetadata(0, first, "the header cluster");
        var backingName = ReadBackingName(file, header, first);
        var extensionsEnd = header.BackingFileOffset != 0 ? (int)header.BackingFileOffset : clusterSize;
        if (extensionsEnd < header.EncodedLength || extensionsEnd > first.Length)
        {
            throw new Qcow2FormatException(path, header.EncodedLength,
                $"the header extension area ends at {extensionsEnd}, outside the header cluster of {first.Length} bytes");
        }

        var extensions = Qcow2HeaderExtension.ParseArea(first.AsSpan(header.EncodedLength, extensionsEnd - header.EncodedLength),
            header.EncodedLength, path);
        var backingFormat = StringExtension(extensions, Qcow2HeaderExtensionType.BackingFormat);
        if (backingFormat is not null && backingName is null)
        {
            backingFormat = null;
        }

        if (backingName is not null && externalFiles == Qcow2ExternalFiles.None)
        {
            throw new Qcow2ExternalFileException(path, (long)header.BackingFileOffset, backingName,
                $"backing file '{backingName}' is not followed: the image's format was probed, not given");
        }

        var l1 = LoadL1(file, header);
        CheckRefcountTable(file, header);
        var image = new Qcow2Image(file, header, extensions, header.EncodedLength, l1, backingName, backingFormat);
        if (image.HasExternalData)
        {
            image.OpenExternalData(StringExtension(extensions, Qcow2HeaderExtensionType.ExternalDataFile), externalFiles);
        }

        image.MetadataPreallocation = image.DetectMetadataPreallocation();
        return image;
    }

    private static void CheckFeatures(ImageFile file, Qcow2Header header, ReadOnlySpan<byte> start)
    {
        if (header.CryptMethod != Qcow2CryptMethod.None)
        {
            throw new Qcow2FormatException(file.Path, 32,
                $"the image is encrypted ({(header.CryptMethod == Qcow2CryptMethod.Luks ? "LUKS" : $"crypt_method {(uint)header.CryptMethod}")}); Engine does not read encrypted qcow2 images");
        }

        var unknown = header.UnknownIncompatibleFeatures;
        if (unknown != 0)
        {
            var bit = System.Numerics.BitOperations.TrailingZeroCount((ulong)unknown);
            var name = FeatureName(header, start, bit);
            throw new Qcow2FormatException(file.Path, 72,
                $"unsupported incompatible feature bit {bit}{(name is null ? "" : $" ('{name}')")}");
        }

        if ((ulong)header.Size > long.MaxValue)
        {
            throw new Qcow2FormatException(file.Path, 24, $"virtual size {header.Size} is too large");
        }
    }

    /// <summary>The name the feature table gives an unknown bit, for the message; the table may be in the first bytes read.</summary>
    private static string? FeatureName(Qcow2Header header, ReadOnlySpan<byte> start, int bit)
    {
        try
        {
            var end = header.BackingFileOffset != 0 ? (int)Math.Min(header.BackingFileOffset, (ulong)start.Length) : start.Length;
            if (end <= header.EncodedLength)
            {
                return null;
            }

            var extensions = Qcow2HeaderExtension.ParseArea(start[header.EncodedLength..end], header.EncodedLength);
            var table = extensions.FirstOrDefault(e => e.Type == Qcow2HeaderExtensionType.FeatureNameTable);
            return table is null ? null : Qcow2FeatureName.Find(Qcow2FeatureName.ParseTable(table.Data.Span), Qcow2FeatureKind.Incompatible, bit);
        }
        catch (Qcow2FormatException)
        {
            // The name only decorates the message about the bit; a malformed table must not hide that message.
            return null;
        }
    }

    private static string? ReadBackingName(ImageFile file, Qcow2Header header, ReadOnlySpan<byte> first)
    {
        if (header.BackingFileOffset == 0)
        {
            return null;
        }

        if (header.BackingFileOffset > (ulong)header.ClusterSize || header.BackingFileOffset < (ulong)header.EncodedLength)
        {
            throw new Qcow2FormatException(file.Path, 8,
                $"backing file name offset {header.BackingFileOffset} lies outside the header cluster");
        }

        var offset = (int)header.BackingFileOffset;
        var length = (int)header.BackingFileSize;
        if (length == 0)
        {
            return null;
        }

        if (offset + length > first.Length)
        {
            throw new Qcow2FormatException(file.Path, offset, $"the backing file name ({length} bytes) runs past the header cluster or the file");
        }

        var name = first.Slice(offset, length);
        if (name.Contains((byte)0))
        {
            // qemu reads the name as a C string: the file it opens is the part before the NUL, not what Engine would show.
            throw new Qcow2FormatException(file.Path, offset + name.IndexOf((byte)0), "the backing file name contains a NUL byte");
        }

        return Encoding.UTF8.GetString(name);
    }

    private static string? StringExtension(IReadOnlyList<Qcow2HeaderExtension> extensions, Qcow2HeaderExtensionType type) =>
        extensions.FirstOrDefault(e => e.Type == type)?.DataAsString();

    private static ulong[] LoadL1(ImageFile file, Qcow2Header header)
    {
        var layout = header.Layout;
        var needed = layout.L1EntriesFor(header.Size);
        if (header.L1Size < needed)
        {
            throw new Qcow2FormatException(file.Path, 36,
                $"the L1 table has {header.L1Size} entries, but a disk of {header.Size} bytes needs {needed}");
        }

        if ((ulong)header.L1Size * Qcow2Layout.TableEntrySize > Qcow2Layout.MaxL1TableBytes)
        {
            throw new Qcow2FormatException(file.Path, 36,
                $"the L1 table of {header.L1Size} entries exceeds {Qcow2Layout.MaxL1TableBytes} bytes");
        }

        if (header.L1Size == 0)
        {
            return [];
        }

        if (!layout.IsClusterAligned(header.L1TableOffset) || header.L1TableOffset == 0)
        {
            throw new Qcow2FormatException(file.Path, 40, $"the L1 table offset {header.L1TableOffset} is not a nonzero multiple of the cluster size");
        }

        // Only the entries that map the disk are read: qemu too ignores the rest of a longer table.
        var entries = (int)needed;
        var bytes = new byte[entries * Qcow2Layout.TableEntrySize];
        if (header.L1TableOffset > (ulong)file.Length)
        {
            throw new Qcow2FormatException(file.Path, 40, $"the L1 table at {header.L1TableOffset} lies past the end of the file ({file.Length} bytes)");
        }

        file.ReadMetadata((long)header.L1TableOffset, bytes, "the L1 table");
        var l1 = new ulong[entries];
        L2Cache.Decode(bytes, l1);
        return l1;
    }

    private static void CheckRefcountTable(ImageFile file, Qcow2Header header)
    {
        var bytes = (ulong)header.RefcountTableClusters * (ulong)header.ClusterSize;
        if (bytes > Qcow2Layout.MaxRefcountTableBytes)
        {
            throw new Qcow2FormatException(file.Path, 56,
                $"the refcount table of {header.RefcountTableClusters} clusters exceeds {Qcow2Layout.MaxRefcountTableBytes} bytes");
        }

        if (!header.Layout.IsClusterAligned(header.RefcountTableOffset) || header.RefcountTableOffset > (ulong)file.Length ||
            bytes > (ulong)file.Length - header.RefcountTableOffset)
        {
            throw new Qcow2FormatException(file.Path, 48,
                $"the refcount table at {header.RefcountTableOffset} ({bytes} bytes) is unaligned or runs past the end of the file ({file.Length} bytes)");
        }
    }

    private void OpenExternalData(string? name, Qcow2ExternalFiles externalFiles)
    {
        if (string.IsNullOrEmpty(name))
        {
            throw new Qcow2FormatException(Path, 72, "the image keeps its data in an external data file but does not name it");
        }

        if (externalFiles == Qcow2ExternalFiles.None)
        {
            throw new Qcow2ExternalFileException(Path, 72, name,
                $"external data file '{name}' is not followed: the image's format was probed, not given");
        }

        var resolved = BackingPaths.Resolve(Path, name);
        try
        {
            DataFile = ImageFile.Open(resolved);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new FileNotFoundException($"{Path}: external data file '{name}' ({resolved}): {Blocks.ExceptionText.Of(ex)}", resolved, ex);
        }

        CheckKind(DataFile, Path, 72, $"external data file '{name}' ({resolved})", externalFiles);
    }

    /// <summary>Refuses a backing or external data file that is a block device unless <paramref name="externalFiles"/> allows one.</summary>
    /// <exception cref="Qcow2FormatException">It is a block device (the file is closed).</exception>
    public static void CheckKind(ImageFile file, string imagePath, long offset, string what, Qcow2ExternalFiles externalFiles)
    {
        if (file.IsBlockDevice && externalFiles != Qcow2ExternalFiles.RegularFilesAndBlockDevices)
        {
            file.Dispose();
            throw new Qcow2FormatException(imagePath, offset, $"{what} is a block device; Engine follows only regular files unless block devices are allowed");
        }
    }

    /// <summary>
    /// qemu's heuristic (<c>qcow2_detect_metadata_preallocation</c>): when clearly more clusters are referenced than
    /// the file occupies on disk (at least max(allocated × 10 / 9, allocated + 2) clusters), the image counts as
    /// preallocated, and qemu's block status then asks the file which parts of data clusters are holes. Any error
    /// while counting means "no", as in qemu.
    /// </summary>
    private bool DetectMetadataPreallocation()
    {
        var clusterSize = Layout.ClusterSize;
        var allocatedClusters = File.AllocatedBytes / clusterSize;
        var threshold = Math.Max(allocatedClusters * 10 / 9, allocatedClusters + 2);
        var clusters = (((File.Length + 511) & ~511L) + clusterSize - 1) / clusterSize;
        if (clusters < threshold)
        {
            return false;
        }

        var order = Header.RefcountOrder;
        var perBlock = Layout.RefcountBlockEntries(order);
        var tableEntries = (int)((long)Header.RefcountTableClusters * clusterSize / 8);
        var table = new byte[tableEntries * 8];
        var block = new byte[clusterSize];
        try
        {
            File.ReadMetadata((long)Header.RefcountTableOffset, table, "the refcount table");
            var referenced = 0L;
            for (var blockIndex = 0L; blockIndex * perBlock < clusters && blockIndex < tableEntries; blockIndex++)
            {
                var blockOffset = (long)new RefcountTableEntry(BinaryPrimitives.ReadUInt64BigEndian(table.AsSpan((int)blockIndex * 8))).BlockOffset;
                if (blockOffset == 0)
                {
                    continue;
                }

                if ((blockOffset & (clusterSize - 1)) != 0)
                {
                    return false;
                }

                File.ReadMetadata(blockOffset, block, "a refcount block");
                var count = (int)Math.Min(perBlock, clusters - (blockIndex * perBlock));
                for (var i = 0; i < count; i++)
                {
                    if (RefcountBlock.Get(block, i, order) != 0 && ++referenced >= threshold)
                    {
                        return true;
                    }
                }
            }

            return false;
        }
        catch (Qcow2FormatException)
        {
            return false;
        }
    }

    /// <summary>Reads the L2 table at <paramref name="l2Offset"/> into <paramref name="destination"/> (one cluster), after checking where it is.</summary>
    /// <param name="l2Offset">The table's offset from the L1 entry.</param>
    /// <param name="l1Index">Which L1 entry points at it, for messages.</param>
    /// <param name="destination">One cluster.</param>
    public void ReadL2Table(long l2Offset, long l1Index, Span<byte> destination)
    {
        if ((l2Offset & (Layout.ClusterSize - 1)) != 0 || l2Offset < Layout.ClusterSize)
        {
            throw new Qcow2FormatException(Path, (long)Header.L1TableOffset + (l1Index * 8),
                $"L1 entry {l1Index} points at an L2 table at {l2Offset}, which is not a cluster boundary after the header");
        }

        if (l2Offset > File.Length - Layout.ClusterSize)
        {
            throw new Qcow2FormatException(Path, (long)Header.L1TableOffset + (l1Index * 8),
                $"L1 entry {l1Index} points at an L2 table at {l2Offset}, past the end of the file ({File.Length} bytes)");
        }

        File.ReadMetadata(l2Offset, destination, $"the L2 table at {l2Offset}");
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (!ReferenceEquals(DataFile, File))
        {
            DataFile.Dispose();
        }

        File.Dispose();
    }
}
