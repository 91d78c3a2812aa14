using System.Text;

namespace Engine.Qcow2.Format;

/// <summary>One entry of the feature name table extension: a human name for one feature bit.</summary>
/// <param name="Kind">The feature bitmap.</param>
/// <param name="Bit">The bit number (0 to 63).</param>
/// <param name="Name">The name (at most 46 bytes of UTF-8).</param>
public sealed record Qcow2FeatureName(Qcow2FeatureKind Kind, byte Bit, string Name)
{
    /// <summary>Length of one table entry.</summary>
    public const int EntryLength = 48;

    private const int NameLength = EntryLength - 2;

    /// <summary>Parses a feature name table (the extension's data); a trailing partial entry is ignored, as qemu does.</summary>
    public static IReadOnlyList<Qcow2FeatureName> ParseTable(ReadOnlySpan<byte> data)
    {
        var names = new List<Qcow2FeatureName>(data.Length / EntryLength);
        for (var position = 0; position + EntryLength <= data.Length; position += EntryLength)
        {
            var entry = data.Slice(position, EntryLength);
            var name = entry.Slice(2, NameLength);
            var end = name.IndexOf((byte)0);
            names.Add(new Qcow2FeatureName((Qcow2FeatureKind)entry[0], entry[1],
                Encoding.UTF8.GetString(end < 0 ? name : name[..end])));
        }
        return names;
    }

    /// <summary>Writes the entry (<see cref="EntryLength"/> bytes, the name zero-padded); returns <see cref="EntryLength"/>.</summary>
    /// <exception cref="ArgumentException">The name is longer than 46 bytes of UTF-8.</exception>
    public int WriteTo(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, EntryLength, nameof(destination));
        var entry = destination[..EntryLength];
        entry.Clear();
        entry[0] = (byte)Kind;
        entry[1] = Bit;
        if (!Encoding.UTF8.TryGetBytes(Name, entry[2..], out _))
        {
            throw new ArgumentException($"feature name \"{Name}\" is longer than {NameLength} bytes", nameof(destination));
        }
        return EntryLength;
    }

    /// <summary>The whole table as a header extension.</summary>
    public static Qcow2HeaderExtension ToHeaderExtension(IReadOnlyList<Qcow2FeatureName> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        var data = new byte[names.Count * EntryLength];
        for (var i = 0; i < names.Count; i++)
        {
            names[i].WriteTo(data.AsSpan(i * EntryLength));
        }
        return new Qcow2HeaderExtension(Qcow2HeaderExtensionType.FeatureNameTable, data);
    }

    /// <summary>The name of <paramref name="bit"/> of <paramref name="kind"/> in <paramref name="names"/>, or null.</summary>
    public static string? Find(IEnumerable<Qcow2FeatureName> names, Qcow2FeatureKind kind, int bit) =>
        names.FirstOrDefault(n => n.Kind == kind && n.Bit == bit)?.Name;
}
