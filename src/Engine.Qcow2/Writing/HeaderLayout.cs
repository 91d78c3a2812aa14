using System.Buffers.Binary;

namespace Engine.Qcow2.Writing;

/// <summary>
/// Where the writer finds and puts the fields of a version 3 qcow2 header (docs/interop/qcow2.txt, "Header").
/// The writer keeps its own view of the few fields it reads and rewrites, so that it does not depend on the reader's
/// parsing being present or on its error policy.
/// </summary>
internal static class HeaderLayout
{
    public const int Version = 4;
    public const int BackingFileOffset = 8;
    public const int BackingFileSize = 16;
    public const int ClusterBits = 20;
    public const int Size = 24;
    public const int CryptMethod = 32;
    public const int L1Size = 36;
    public const int L1TableOffset = 40;
    public const int RefcountTableOffset = 48;
    public const int RefcountTableClusters = 56;
    public const int SnapshotCount = 60;
    public const int IncompatibleFeatures = 72;
    public const int CompatibleFeatures = 80;
    public const int AutoclearFeatures = 88;
    public const int RefcountOrder = 96;
    public const int HeaderLength = 100;
    public const int CompressionType = 104;

    /// <summary>The version 3 header as qemu writes it today: with the compression type byte, padded to 8.</summary>
    public const int Length = 112;

    /// <summary>The mutable fields <see cref="Size"/> to the end of <see cref="RefcountTableClusters"/>, rewritten together.</summary>
    public const int MutableStart = Size;

    /// <summary>Length of the mutable field group.</summary>
    public const int MutableLength = RefcountTableClusters + 4 - Size;

    /// <summary>Header extension: the backing file's format name.</summary>
    public const uint BackingFormatExtension = 0xe2792aca;

    /// <summary>Incompatible feature bits the writer can honour: only "compression type" (it never writes compressed clusters).</summary>
    public const ulong WritableIncompatible = 1UL << 3;

    /// <summary>Incompatible bit 0: the image was not closed cleanly with lazy refcounts and needs repair first.</summary>
    public const ulong DirtyBit = 1UL << 0;

    /// <summary>Incompatible bit 1: qemu found the image corrupt.</summary>
    public const ulong CorruptBit = 1UL << 1;

    /// <summary>Incompatible bit 2: the guest data lives in an external file.</summary>
    public const ulong ExternalDataBit = 1UL << 2;

    /// <summary>Incompatible bit 4: L2 entries are 128 bits with subclusters.</summary>
    public const ulong ExtendedL2Bit = 1UL << 4;

    public static uint U32(ReadOnlySpan<byte> header, int at) => BinaryPrimitives.ReadUInt32BigEndian(header[at..]);

    public static ulong U64(ReadOnlySpan<byte> header, int at) => BinaryPrimitives.ReadUInt64BigEndian(header[at..]);

    public static void Put(Span<byte> header, int at, uint value) => BinaryPrimitives.WriteUInt32BigEndian(header[at..], value);

    public static void Put(Span<byte> header, int at, ulong value) => BinaryPrimitives.WriteUInt64BigEndian(header[at..], value);
}
