using System.Buffers.Binary;

namespace Engine.Qcow2.Format;

/// <summary>
/// The qcow2 header at offset 0: the 72 bytes of version 2, and for version 3 the feature bitmaps, refcount order,
/// header length and compression type. <see cref="Parse"/> checks what a reader needs to trust the fields' shapes;
/// whether the tables they point at exist is the reader's business.
/// </summary>
public sealed record Qcow2Header
{
    /// <summary>Length of a version 2 header.</summary>
    public const int V2Length = 72;

    /// <summary>Smallest version 3 header (through <c>header_length</c>).</summary>
    public const int V3MinimumLength = 104;

    /// <summary>The version 3 header qemu writes: through <c>compression_type</c>, padded to 8 bytes.</summary>
    public const int V3Length = 112;

    /// <summary>Offset of <c>compression_type</c>, present when the header length exceeds it.</summary>
    public const int CompressionTypeOffset = 104;

    /// <summary>Longest backing file name the specification allows.</summary>
    public const int MaxBackingFileNameLength = 1023;

    /// <summary>Format version: 2 or 3.</summary>
    public uint Version { get; init; } = 3;

    /// <summary>File offset of the backing file name, 0 when there is none.</summary>
    public ulong BackingFileOffset { get; init; }

    /// <summary>Length of the backing file name in bytes.</summary>
    public uint BackingFileSize { get; init; }

    /// <summary>log2 of the cluster size.</summary>
    public int ClusterBits { get; init; } = 16;

    /// <summary>Virtual disk size in bytes.</summary>
    public ulong Size { get; init; }

    /// <summary>Encryption method.</summary>
    public Qcow2CryptMethod CryptMethod { get; init; }

    /// <summary>Entries in the active L1 table.</summary>
    public uint L1Size { get; init; }

    /// <summary>File offset of the active L1 table (cluster aligned).</summary>
    public ulong L1TableOffset { get; init; }

    /// <summary>File offset of the refcount table (cluster aligned).</summary>
    public ulong RefcountTableOffset { get; init; }

    /// <summary>Clusters the refcount table occupies.</summary>
    public uint RefcountTableClusters { get; init; }

    /// <summary>Number of internal snapshots.</summary>
    public uint SnapshotCount { get; init; }

    /// <summary>File offset of the snapshot table.</summary>
    public ulong SnapshotsOffset { get; init; }

    /// <summary>Incompatible feature bits (version 3; none for version 2).</summary>
    public Qcow2IncompatibleFeatures IncompatibleFeatures { get; init; }

    /// <summary>Compatible feature bits.</summary>
    public Qcow2CompatibleFeatures CompatibleFeatures { get; init; }

    /// <summary>Auto-clear feature bits.</summary>
    public Qcow2AutoclearFeatures AutoclearFeatures { get; init; }

    /// <summary>log2 of the refcount width in bits (4 for version 2).</summary>
    public int RefcountOrder { get; init; } = Qcow2Layout.DefaultRefcountOrder;

    /// <summary>Header length in bytes (72 for version 2; at least 104 and a multiple of 8 for version 3).</summary>
    public uint HeaderLength { get; init; } = V3Length;

    /// <summary>Compression type of compressed clusters (<see cref="Qcow2CompressionType.Deflate"/> when absent).</summary>
    public Qcow2CompressionType CompressionType { get; init; }

    /// <summary>Cluster size in bytes.</summary>
    public int ClusterSize => 1 << ClusterBits;

    /// <summary>Whether L2 entries are extended (incompatible bit 4).</summary>
    public bool HasExtendedL2 => (IncompatibleFeatures & Qcow2IncompatibleFeatures.ExtendedL2) != 0;

    /// <summary>The table geometry this header describes.</summary>
    public Qcow2Layout Layout => new(ClusterBits, HasExtendedL2);

    /// <summary>Incompatible bits this implementation does not know (a reader must refuse the image).</summary>
    public Qcow2IncompatibleFeatures UnknownIncompatibleFeatures => IncompatibleFeatures & ~Qcow2IncompatibleFeatures.Known;

    /// <summary>Bytes the header occupies: <see cref="HeaderLength"/>, where the header extensions start.</summary>
    public int EncodedLength => (int)HeaderLength;

    /// <summary>Parses and checks the header at the start of <paramref name="data"/> (the image's first cluster, or at least its header).</summary>
    /// <param name="data">The image's first bytes.</param>
    /// <param name="source">The file, for messages.</param>
    /// <exception cref="Qcow2FormatException">Not qcow2, an unsupported version, or a field out of range.</exception>
    public static Qcow2Header Parse(ReadOnlySpan<byte> data, string? source = null)
    {
        if (data.Length < V2Length)
        {
            throw new Qcow2FormatException(source, 0, $"a qcow2 header needs {V2Length} bytes, the file has {data.Length}");
        }
        if (!Qcow2Magic.Matches(data))
        {
            throw new Qcow2FormatException(source, 0, "not a qcow2 image (no QFI\\xfb magic)");
        }
        var version = BinaryPrimitives.ReadUInt32BigEndian(data[4..]);
        if (version is not (2 or 3))
        {
            throw new Qcow2FormatException(source, 4, $"qcow2 version {version} is not supported (only 2 and 3)");
        }
        var clusterBits = BinaryPrimitives.ReadUInt32BigEndian(data[20..]);
        if (clusterBits is < Qcow2Layout.MinClusterBits or > Qcow2Layout.MaxClusterBits)
        {
            throw new Qcow2FormatException(source, 20,
                $"cluster_bits {clusterBits} is out of range ({Qcow2Layout.MinClusterBits} to {Qcow2Layout.MaxClusterBits})");
        }
        var header = new Qcow2Header
        {
            Version = version,
            BackingFileOffset = BinaryPrimitives.ReadUInt64BigEndian(data[8..]),
            BackingFileSize = BinaryPrimitives.ReadUInt32BigEndian(data[16..]),
            ClusterBits = (int)clusterBits,
            Size = BinaryPrimitives.ReadUInt64BigEndian(data[24..]),
            CryptMethod = (Qcow2CryptMethod)BinaryPrimitives.ReadUInt32BigEndian(data[32..]),
            L1Size = BinaryPrimitives.ReadUInt32BigEndian(data[36..]),
            L1TableOffset = BinaryPrimitives.ReadUInt64BigEndian(data[40..]),
            RefcountTableOffset = BinaryPrimitives.ReadUInt64BigEndian(data[48..]),
            RefcountTableClusters = BinaryPrimitives.ReadUInt32BigEndian(data[56..]),
            SnapshotCount = BinaryPrimitives.ReadUInt32BigEndian(data[60..]),
            SnapshotsOffset = BinaryPrimitives.ReadUInt64BigEndian(data[64..]),
            RefcountOrder = Qcow2Layout.DefaultRefcountOrder,
            HeaderLength = V2Length,
        };
        if (version == 3)
        {
            header = ParseVersion3(data, header, source);
        }
        if (header.BackingFileOffset != 0 && header.BackingFileSize > MaxBackingFileNameLength)
        {
            throw new Qcow2FormatException(source, 16,
                $"backing file name length {header.BackingFileSize} exceeds {MaxBackingFileNameLength} bytes");
        }
        return header;
    }

    private static Qcow2Header ParseVersion3(ReadOnlySpan<byte> data, Qcow2Header v2, string? source)
    {
        if (data.Length < V3MinimumLength)
        {
            throw new Qcow2FormatException(source, 0,
                $"a version 3 header needs {V3MinimumLength} bytes, the file has {data.Length}");
        }
        var headerLength = BinaryPrimitives.ReadUInt32BigEndian(data[100..]);
        if (headerLength < V3MinimumLength || headerLength % 8 != 0 || headerLength > (uint)v2.ClusterSize)
        {
            throw new Qcow2FormatException(source, 100,
                $"header_length {headerLength} is invalid (at least {V3MinimumLength}, a multiple of 8, within the first cluster)");
        }
        var refcountOrder = BinaryPrimitives.ReadUInt32BigEndian(data[96..]);
        if (refcountOrder > Qcow2Layout.MaxRefcountOrder)
        {
            throw new Qcow2FormatException(source, 96,
                $"refcount_order {refcountOrder} is out of range (0 to {Qcow2Layout.MaxRefcountOrder})");
        }
        var compression = Qcow2CompressionType.Deflate;
        if (headerLength > CompressionTypeOffset)
        {
            if (data.Length <= CompressionTypeOffset)
            {
                throw new Qcow2FormatException(source, 100,
                    $"header_length {headerLength} runs past the {data.Length} bytes read");
            }
            compression = (Qcow2CompressionType)data[CompressionTypeOffset];
        }
        var header = v2 with
        {
            IncompatibleFeatures = (Qcow2IncompatibleFeatures)BinaryPrimitives.ReadUInt64BigEndian(data[72..]),
            CompatibleFeatures = (Qcow2CompatibleFeatures)BinaryPrimitives.ReadUInt64BigEndian(data[80..]),
            AutoclearFeatures = (Qcow2AutoclearFeatures)BinaryPrimitives.ReadUInt64BigEndian(data[88..]),
            RefcountOrder = (int)refcountOrder,
            HeaderLength = headerLength,
            CompressionType = compression,
        };
        var compressionBit = (header.IncompatibleFeatures & Qcow2IncompatibleFeatures.CompressionType) != 0;
        if (compressionBit != (compression != Qcow2CompressionType.Deflate))
        {
            throw new Qcow2FormatException(source, CompressionTypeOffset, compressionBit
                ? "the compression type feature bit is set but compression_type is zlib (0) or absent"
                : $"compression_type {(byte)compression} is set without the compression type feature bit");
        }
        if (compression is not (Qcow2CompressionType.Deflate or Qcow2CompressionType.Zstd))
        {
            throw new Qcow2FormatException(source, CompressionTypeOffset, $"compression_type {(byte)compression} is unknown");
        }
        if (header.HasExtendedL2 && header.ClusterBits < Qcow2Layout.MinExtendedL2ClusterBits)
        {
            throw new Qcow2FormatException(source, 20,
                $"extended L2 entries need clusters of at least {1 << Qcow2Layout.MinExtendedL2ClusterBits} bytes, not {header.ClusterSize}");
        }
        return header;
    }

    /// <summary>
    /// Writes the header into the first <see cref="EncodedLength"/> bytes of <paramref name="destination"/>: the
    /// version 2 fields, and for version 3 the rest through <c>compression_type</c> with zero padding up to
    /// <see cref="HeaderLength"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The destination is shorter than <see cref="EncodedLength"/>, or the header length does not suit the version.</exception>
    public int WriteTo(Span<byte> destination)
    {
        var length = EncodedLength;
        if (Version == 2 ? HeaderLength != V2Length : HeaderLength < V3MinimumLength || HeaderLength % 8 != 0)
        {
            throw new ArgumentException($"header length {HeaderLength} does not suit version {Version}", nameof(destination));
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, length, nameof(destination));
        var header = destination[..length];
        header.Clear();
        BinaryPrimitives.WriteUInt32BigEndian(header, Qcow2Magic.Value);
        BinaryPrimitives.WriteUInt32BigEndian(header[4..], Version);
        BinaryPrimitives.WriteUInt64BigEndian(header[8..], BackingFileOffset);
        BinaryPrimitives.WriteUInt32BigEndian(header[16..], BackingFileSize);
        BinaryPrimitives.WriteUInt32BigEndian(header[20..], (uint)ClusterBits);
        BinaryPrimitives.WriteUInt64BigEndian(header[24..], Size);
        BinaryPrimitives.WriteUInt32BigEndian(header[32..], (uint)CryptMethod);
        BinaryPrimitives.WriteUInt32BigEndian(header[36..], L1Size);
        BinaryPrimitives.WriteUInt64BigEndian(header[40..], L1TableOffset);
        BinaryPrimitives.WriteUInt64BigEndian(header[48..], RefcountTableOffset);
        BinaryPrimitives.WriteUInt32BigEndian(header[56..], RefcountTableClusters);
        BinaryPrimitives.WriteUInt32BigEndian(header[60..], SnapshotCount);
        BinaryPrimitives.WriteUInt64BigEndian(header[64..], SnapshotsOffset);
        if (Version == 2)
        {
            return length;
        }
        BinaryPrimitives.WriteUInt64BigEndian(header[72..], (ulong)IncompatibleFeatures);
        BinaryPrimitives.WriteUInt64BigEndian(header[80..], (ulong)CompatibleFeatures);
        BinaryPrimitives.WriteUInt64BigEndian(header[88..], (ulong)AutoclearFeatures);
        BinaryPrimitives.WriteUInt32BigEndian(header[96..], (uint)RefcountOrder);
        BinaryPrimitives.WriteUInt32BigEndian(header[100..], HeaderLength);
        if (length > CompressionTypeOffset)
        {
            header[CompressionTypeOffset] = (byte)CompressionType;
        }
        return length;
    }
}
