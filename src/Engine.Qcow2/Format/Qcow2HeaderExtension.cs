using System.Buffers.Binary;
using System.Text;

namespace Engine.Qcow2.Format;

/// <summary>
/// One header extension: its type and its data (without the padding to 8 bytes). The area of extensions starts at
/// <see cref="Qcow2Header.HeaderLength"/> and ends with an <see cref="Qcow2HeaderExtensionType.End"/> extension.
/// </summary>
/// <param name="Type">The extension's type word.</param>
/// <param name="Data">Its data, exactly as long as its length field says.</param>
public sealed record Qcow2HeaderExtension(Qcow2HeaderExtensionType Type, ReadOnlyMemory<byte> Data)
{
    /// <summary>Bytes of the type and length fields before the data.</summary>
    public const int PrefixLength = 8;

    /// <summary>Bytes the extension occupies: prefix, data, padding to 8.</summary>
    public int EncodedLength => PrefixLength + Align8(Data.Length);

    /// <summary>A string extension (backing format, external data file name): the string's UTF-8 bytes, no terminator.</summary>
    public static Qcow2HeaderExtension FromString(Qcow2HeaderExtensionType type, string value) =>
        new(type, Encoding.UTF8.GetBytes(value));

    /// <summary>The data read as a string extension (UTF-8, not terminated).</summary>
    public string DataAsString() => Encoding.UTF8.GetString(Data.Span);

    /// <summary>Writes type, length, data and zero padding into <paramref name="destination"/>; returns <see cref="EncodedLength"/>.</summary>
    public int WriteTo(Span<byte> destination)
    {
        var length = EncodedLength;
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, length, nameof(destination));
        BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)Type);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], (uint)Data.Length);
        Data.Span.CopyTo(destination[PrefixLength..]);
        destination[(PrefixLength + Data.Length)..length].Clear();
        return length;
    }

    /// <summary>
    /// Parses the extension area <c>area</c> (from the end of the header to the end of the space extensions may use:
    /// the backing file name or the end of the first cluster) up to its end marker.
    /// </summary>
    /// <param name="area">The bytes of the area.</param>
    /// <param name="areaOffset">File offset of <paramref name="area"/>, for messages.</param>
    /// <param name="source">The file, for messages.</param>
    /// <exception cref="Qcow2FormatException">An extension whose length runs past the area, a duplicate known extension, or no end marker.</exception>
    public static IReadOnlyList<Qcow2HeaderExtension> ParseArea(ReadOnlySpan<byte> area, long areaOffset, string? source = null)
    {
        var extensions = new List<Qcow2HeaderExtension>();
        var position = 0;
        while (true)
        {
            // An area filled exactly, with no room for an end marker, ends there (as qemu reads it); a few bytes too
            // few for another extension's type and length are a malformed area.
            if (position == area.Length)
            {
                return extensions;
            }
            if (area.Length - position < PrefixLength)
            {
                throw new Qcow2FormatException(source, areaOffset + position,
                    "the header extensions run past their area without an end marker");
            }
            var type = (Qcow2HeaderExtensionType)BinaryPrimitives.ReadUInt32BigEndian(area[position..]);
            var length = BinaryPrimitives.ReadUInt32BigEndian(area[(position + 4)..]);
            if (type == Qcow2HeaderExtensionType.End)
            {
                return extensions;
            }
            var available = area.Length - position - PrefixLength;
            if (length > (uint)available)
            {
                throw new Qcow2FormatException(source, areaOffset + position + 4,
                    $"header extension 0x{(uint)type:x8} claims {length} bytes, only {available} remain in the header area");
            }
            if (Enum.IsDefined(type) && extensions.Exists(e => e.Type == type))
            {
                throw new Qcow2FormatException(source, areaOffset + position,
                    $"header extension {type} (0x{(uint)type:x8}) appears twice");
            }
            extensions.Add(new Qcow2HeaderExtension(type, area.Slice(position + PrefixLength, (int)length).ToArray()));
            position += PrefixLength + Math.Min(Align8((int)length), available);
        }
    }

    /// <summary>
    /// Writes <paramref name="extensions"/> followed by the end marker into <paramref name="destination"/>; returns
    /// the bytes written.
    /// </summary>
    public static int WriteArea(IEnumerable<Qcow2HeaderExtension> extensions, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(extensions);
        var position = 0;
        foreach (var extension in extensions)
        {
            position += extension.WriteTo(destination[position..]);
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length - position, PrefixLength, nameof(destination));
        destination.Slice(position, PrefixLength).Clear();
        return position + PrefixLength;
    }

    /// <summary>Rounds <paramref name="length"/> up to a multiple of 8.</summary>
    internal static int Align8(int length) => (length + 7) & ~7;
}
