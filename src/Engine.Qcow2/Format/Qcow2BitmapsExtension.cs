using System.Buffers.Binary;

namespace Engine.Qcow2.Format;

/// <summary>The data of the bitmaps header extension: how many bitmaps there are and where their directory is.</summary>
/// <param name="BitmapCount">Number of bitmaps (at least 1).</param>
/// <param name="DirectorySize">Bytes of the bitmap directory.</param>
/// <param name="DirectoryOffset">File offset of the bitmap directory (cluster aligned).</param>
public readonly record struct Qcow2BitmapsExtension(uint BitmapCount, ulong DirectorySize, ulong DirectoryOffset)
{
    /// <summary>Length of the extension data.</summary>
    public const int Length = 24;

    /// <summary>Most bitmaps qemu supports in one image; Engine refuses more.</summary>
    public const uint MaxBitmaps = 65535;

    /// <summary>Largest bitmap directory accepted (qemu's limit: 64 MiB).</summary>
    public const ulong MaxDirectorySize = 64UL << 20;

    /// <summary>Parses the extension data.</summary>
    /// <param name="data">The extension's data.</param>
    /// <param name="dataOffset">File offset of <paramref name="data"/>, for messages.</param>
    /// <param name="source">The file, for messages.</param>
    /// <exception cref="Qcow2FormatException">A wrong length, no bitmaps, too many, reserved bits set, or a directory too large.</exception>
    public static Qcow2BitmapsExtension Parse(ReadOnlySpan<byte> data, long dataOffset = -1, string? source = null)
    {
        if (data.Length != Length)
        {
            throw new Qcow2FormatException(source, dataOffset, $"the bitmaps extension is {data.Length} bytes, not {Length}");
        }
        var extension = new Qcow2BitmapsExtension(
            BinaryPrimitives.ReadUInt32BigEndian(data),
            BinaryPrimitives.ReadUInt64BigEndian(data[8..]),
            BinaryPrimitives.ReadUInt64BigEndian(data[16..]));
        if (BinaryPrimitives.ReadUInt32BigEndian(data[4..]) != 0)
        {
            throw new Qcow2FormatException(source, FieldOffset.At(dataOffset, 4), "the bitmaps extension's reserved field is not zero");
        }
        if (extension.BitmapCount is 0 or > MaxBitmaps)
        {
            throw new Qcow2FormatException(source, dataOffset,
                $"the bitmaps extension counts {extension.BitmapCount} bitmaps (1 to {MaxBitmaps} allowed)");
        }
        if (extension.DirectorySize > MaxDirectorySize)
        {
            throw new Qcow2FormatException(source, FieldOffset.At(dataOffset, 8),
                $"the bitmap directory size {extension.DirectorySize} exceeds {MaxDirectorySize} bytes");
        }
        return extension;
    }

    /// <summary>Writes the extension data (<see cref="Length"/> bytes); returns <see cref="Length"/>.</summary>
    public int WriteTo(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Length, nameof(destination));
        BinaryPrimitives.WriteUInt32BigEndian(destination, BitmapCount);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], 0);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], DirectorySize);
        BinaryPrimitives.WriteUInt64BigEndian(destination[16..], DirectoryOffset);
        return Length;
    }

    /// <summary>The extension as a header extension.</summary>
    public Qcow2HeaderExtension ToHeaderExtension()
    {
        var data = new byte[Length];
        WriteTo(data);
        return new Qcow2HeaderExtension(Qcow2HeaderExtensionType.Bitmaps, data);
    }
}
