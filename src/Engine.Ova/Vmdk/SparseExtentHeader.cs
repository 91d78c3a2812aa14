using System.Buffers.Binary;

namespace Engine.Ova.Vmdk;

/// <summary>The 512-byte header of a hosted sparse VMDK extent (<c>KDMV</c>), also used as a stream's footer.</summary>
internal readonly record struct SparseExtentHeader
{
    /// <summary>Size of the header.</summary>
    public const int Size = 512;

    /// <summary>The gdOffset a stream header carries when the grain directory follows at the end.</summary>
    public const ulong GdAtEnd = ulong.MaxValue;

    /// <summary>Flags bit 0: the newline-detection bytes are valid.</summary>
    public const uint FlagValidNewlineDetection = 1u << 0;

    /// <summary>Flags bit 1: a redundant grain table is kept.</summary>
    public const uint FlagRedundantGrainTable = 1u << 1;

    /// <summary>Flags bit 2: a grain table entry of 1 means "zeroed grain".</summary>
    public const uint FlagZeroedGrain = 1u << 2;

    /// <summary>Flags bit 16: grains are compressed.</summary>
    public const uint FlagCompressed = 1u << 16;

    /// <summary>Flags bit 17: every block is preceded by a marker.</summary>
    public const uint FlagMarkers = 1u << 17;

    private const uint KnownFlags = FlagValidNewlineDetection | FlagRedundantGrainTable | FlagZeroedGrain | FlagCompressed | FlagMarkers;

    /// <summary>Format version (1 to 3).</summary>
    public uint Version { get; init; }

    /// <summary>Flags (see the <c>Flag*</c> constants).</summary>
    public uint Flags { get; init; }

    /// <summary>Virtual size in sectors.</summary>
    public ulong Capacity { get; init; }

    /// <summary>Sectors per grain.</summary>
    public ulong GrainSize { get; init; }

    /// <summary>Sector of the embedded descriptor, 0 if none.</summary>
    public ulong DescriptorOffset { get; init; }

    /// <summary>Sectors reserved for the embedded descriptor.</summary>
    public ulong DescriptorSize { get; init; }

    /// <summary>Grain table entries per grain table.</summary>
    public uint NumGtesPerGt { get; init; }

    /// <summary>Sector of the grain directory, or <see cref="GdAtEnd"/>.</summary>
    public ulong GdOffset { get; init; }

    /// <summary>Sectors of metadata before the first grain.</summary>
    public ulong OverHead { get; init; }

    /// <summary>0 none, 1 deflate.</summary>
    public ushort CompressAlgorithm { get; init; }

    /// <summary>Virtual size in bytes.</summary>
    public long CapacityBytes => (long)Capacity * 512;

    /// <summary>Grain size in bytes.</summary>
    public int GrainBytes => (int)GrainSize * 512;

    /// <summary>Whether this is a streamOptimized header (compressed grains with markers).</summary>
    public bool IsStreamOptimized => (Flags & (FlagCompressed | FlagMarkers)) == (FlagCompressed | FlagMarkers);

    /// <summary>Whether <paramref name="data"/> starts with the KDMV magic.</summary>
    public static bool HasMagic(ReadOnlySpan<byte> data) => data.Length >= 4 && data[..4].SequenceEqual("KDMV"u8);

    /// <summary>Parses and validates a header.</summary>
    /// <param name="data">At least 512 bytes.</param>
    /// <param name="sourceName">Name for messages.</param>
    /// <param name="maxCapacityBytes">Largest virtual size accepted.</param>
    /// <exception cref="OvaFormatException">Any field a reader must refuse.</exception>
    public static SparseExtentHeader Parse(ReadOnlySpan<byte> data, string sourceName, long maxCapacityBytes)
    {
        if (data.Length < Size || !HasMagic(data))
        {
            throw new OvaFormatException($"{sourceName}: not a sparse VMDK (no KDMV magic)");
        }

        var header = new SparseExtentHeader
        {
            Version = BinaryPrimitives.ReadUInt32LittleEndian(data[4..]),
            Flags = BinaryPrimitives.ReadUInt32LittleEndian(data[8..]),
            Capacity = BinaryPrimitives.ReadUInt64LittleEndian(data[12..]),
            GrainSize = BinaryPrimitives.ReadUInt64LittleEndian(data[20..]),
            DescriptorOffset = BinaryPrimitives.ReadUInt64LittleEndian(data[28..]),
            DescriptorSize = BinaryPrimitives.ReadUInt64LittleEndian(data[36..]),
            NumGtesPerGt = BinaryPrimitives.ReadUInt32LittleEndian(data[44..]),
            GdOffset = BinaryPrimitives.ReadUInt64LittleEndian(data[56..]),
            OverHead = BinaryPrimitives.ReadUInt64LittleEndian(data[64..]),
            CompressAlgorithm = BinaryPrimitives.ReadUInt16LittleEndian(data[77..]),
        };

        string? problem = null;
        if (header.Version is 0 or > 3)
        {
            problem = $"unsupported VMDK version {header.Version}";
        }
        else if ((header.Flags & ~KnownFlags) != 0)
        {
            problem = $"unknown flags 0x{header.Flags & ~KnownFlags:x}";
        }
        else if ((header.Flags & FlagMarkers) != 0 && (header.Flags & FlagCompressed) == 0)
        {
            problem = "markers without compression";
        }
        else if ((header.Flags & FlagCompressed) != 0 && header.CompressAlgorithm != 1)
        {
            problem = $"compression algorithm {header.CompressAlgorithm} (only 1, deflate, exists)";
        }
        else if ((header.Flags & FlagCompressed) == 0 && header.CompressAlgorithm != 0)
        {
            problem = $"compression algorithm {header.CompressAlgorithm} without the compressed flag";
        }
        else if (header.GrainSize is 0 or > 2048 || !ulong.IsPow2(header.GrainSize))
        {
            problem = $"grain size of {header.GrainSize} sectors (a power of two up to 2048 is accepted)";
        }
        else if (header.NumGtesPerGt is < 128 or > 512 || !uint.IsPow2(header.NumGtesPerGt))
        {
            problem = $"{header.NumGtesPerGt} entries per grain table";
        }
        else if (header.Capacity == 0)
        {
            problem = "capacity 0";
        }
        else if (header.Capacity > (ulong)maxCapacityBytes / 512)
        {
            problem = $"capacity of {header.Capacity} sectors is above the {maxCapacityBytes}-byte limit";
        }
        else if (header.DescriptorOffset != 0 && (header.DescriptorSize == 0 || header.DescriptorSize > VmdkDescriptor.MaxBytes / 512
                                                   || header.DescriptorOffset > header.OverHead || header.DescriptorSize > header.OverHead - header.DescriptorOffset))
        {
            problem = $"embedded descriptor at sector {header.DescriptorOffset} of {header.DescriptorSize} sectors (limit {VmdkDescriptor.MaxBytes / 512}, and before overHead {header.OverHead})";
        }
        else if (header.OverHead == 0)
        {
            problem = "overHead 0";
        }

        if (problem is not null)
        {
            throw new OvaFormatException($"{sourceName}: invalid VMDK header: {problem}");
        }

        return header;
    }
}
