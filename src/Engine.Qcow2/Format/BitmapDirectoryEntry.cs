using System.Buffers.Binary;
using System.Text;

namespace Engine.Qcow2.Format;

/// <summary>One entry of the bitmap directory: where a persistent bitmap's table is, its granularity and its name.</summary>
public sealed record BitmapDirectoryEntry
{
    /// <summary>Fixed part before the extra data and the name.</summary>
    public const int FixedLength = 24;

    /// <summary>The only bitmap type: a dirty tracking bitmap.</summary>
    public const byte DirtyTrackingType = 1;

    /// <summary>Longest name qemu accepts.</summary>
    public const int MaxNameLength = 1023;

    /// <summary>Largest extra data accepted (qemu's limit).</summary>
    public const int MaxExtraDataLength = 1024;

    /// <summary>Smallest granularity_bits qemu supports.</summary>
    public const int MinGranularityBits = 9;

    /// <summary>Largest granularity_bits qemu supports.</summary>
    public const int MaxGranularityBits = 31;

    /// <summary>File offset of the bitmap table (cluster aligned).</summary>
    public ulong TableOffset { get; init; }

    /// <summary>Entries in the bitmap table.</summary>
    public uint TableSize { get; init; }

    /// <summary>The entry's flags.</summary>
    public BitmapFlags Flags { get; init; }

    /// <summary>The bitmap type (<see cref="DirtyTrackingType"/>).</summary>
    public byte Type { get; init; } = DirtyTrackingType;

    /// <summary>log2 of the guest bytes one bit covers.</summary>
    public int GranularityBits { get; init; } = 16;

    /// <summary>The bitmap's name (unique in the image).</summary>
    public string Name { get; init; } = "";

    /// <summary>Type-specific extra data (none defined).</summary>
    public ReadOnlyMemory<byte> ExtraData { get; init; }

    /// <summary>Guest bytes one bit covers.</summary>
    public long Granularity => 1L << GranularityBits;

    /// <summary>Bytes of the entry in the directory, padded to 8.</summary>
    public int EncodedLength =>
        Qcow2HeaderExtension.Align8(FixedLength + ExtraData.Length + Encoding.UTF8.GetByteCount(Name));

    /// <summary>Parses the entry at the start of <paramref name="data"/> and says how many bytes it used.</summary>
    /// <param name="data">The rest of the directory.</param>
    /// <param name="consumed">Bytes of the entry, padding included.</param>
    /// <param name="dataOffset">File offset of <paramref name="data"/>, for messages.</param>
    /// <param name="source">The file, for messages.</param>
    /// <exception cref="Qcow2FormatException">The entry runs past the directory, or a field is out of range.</exception>
    public static BitmapDirectoryEntry Parse(ReadOnlySpan<byte> data, out int consumed, long dataOffset = -1, string? source = null)
    {
        if (data.Length < FixedLength)
        {
            throw new Qcow2FormatException(source, dataOffset, "a bitmap directory entry runs past the directory");
        }
        var nameLength = BinaryPrimitives.ReadUInt16BigEndian(data[18..]);
        var extraLength = BinaryPrimitives.ReadUInt32BigEndian(data[20..]);
        if (nameLength is 0 or > MaxNameLength)
        {
            throw new Qcow2FormatException(source, FieldOffset.At(dataOffset, 18), $"bitmap name length {nameLength} is out of range (1 to {MaxNameLength})");
        }
        if (extraLength > MaxExtraDataLength)
        {
            throw new Qcow2FormatException(source, FieldOffset.At(dataOffset, 20), $"bitmap extra data length {extraLength} exceeds {MaxExtraDataLength}");
        }
        var length = Qcow2HeaderExtension.Align8(FixedLength + (int)extraLength + nameLength);
        if (length > data.Length)
        {
            throw new Qcow2FormatException(source, dataOffset, $"a bitmap directory entry of {length} bytes runs past the directory");
        }
        var entry = new BitmapDirectoryEntry
        {
            TableOffset = BinaryPrimitives.ReadUInt64BigEndian(data),
            TableSize = BinaryPrimitives.ReadUInt32BigEndian(data[8..]),
            Flags = (BitmapFlags)BinaryPrimitives.ReadUInt32BigEndian(data[12..]),
            Type = data[16],
            GranularityBits = data[17],
            ExtraData = data.Slice(FixedLength, (int)extraLength).ToArray(),
            Name = Encoding.UTF8.GetString(data.Slice(FixedLength + (int)extraLength, nameLength)),
        };
        consumed = length;
        return entry;
    }

    /// <summary>Parses <paramref name="count"/> entries filling <paramref name="directory"/>.</summary>
    /// <exception cref="Qcow2FormatException">An entry is malformed, or the entries do not fill the directory exactly.</exception>
    public static IReadOnlyList<BitmapDirectoryEntry> ParseDirectory(ReadOnlySpan<byte> directory, uint count, long directoryOffset = -1, string? source = null)
    {
        var entries = new List<BitmapDirectoryEntry>((int)Math.Min(count, 1024));
        var position = 0;
        for (var i = 0u; i < count; i++)
        {
            entries.Add(Parse(directory[position..], out var consumed, FieldOffset.At(directoryOffset, position), source));
            position += consumed;
        }
        if (position != directory.Length)
        {
            throw new Qcow2FormatException(source, directoryOffset,
                $"the bitmap directory is {directory.Length} bytes but its {count} entries use {position}");
        }
        return entries;
    }

    /// <summary>Writes the entry with its padding; returns <see cref="EncodedLength"/>.</summary>
    public int WriteTo(Span<byte> destination)
    {
        var length = EncodedLength;
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, length, nameof(destination));
        var entry = destination[..length];
        entry.Clear();
        BinaryPrimitives.WriteUInt64BigEndian(entry, TableOffset);
        BinaryPrimitives.WriteUInt32BigEndian(entry[8..], TableSize);
        BinaryPrimitives.WriteUInt32BigEndian(entry[12..], (uint)Flags);
        entry[16] = Type;
        entry[17] = (byte)GranularityBits;
        var nameLength = Encoding.UTF8.GetBytes(Name, entry[(FixedLength + ExtraData.Length)..]);
        BinaryPrimitives.WriteUInt16BigEndian(entry[18..], (ushort)nameLength);
        BinaryPrimitives.WriteUInt32BigEndian(entry[20..], (uint)ExtraData.Length);
        ExtraData.Span.CopyTo(entry[FixedLength..]);
        return length;
    }

    /// <summary>Bytes of bitmap data for a disk of <paramref name="virtualSize"/> bytes (one bit per granule).</summary>
    public ulong DataBytesFor(ulong virtualSize)
    {
        var bits = GranularityBits >= 64 ? 1 : ((virtualSize + (1UL << GranularityBits) - 1) >> GranularityBits);
        return (bits + 7) / 8;
    }
}
