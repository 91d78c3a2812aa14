namespace Engine.Qcow2.Format;

/// <summary>The header's <c>autoclear_features</c> bits: a writer that does not know a bit clears it.</summary>
[Flags]
public enum Qcow2AutoclearFeatures : ulong
{
    /// <summary>No bit set.</summary>
    None = 0,

    /// <summary>Bit 0: the bitmaps extension is consistent.</summary>
    Bitmaps = 1UL << 0,

    /// <summary>Bit 1: the external data file reads as a standalone raw image.</summary>
    RawExternalData = 1UL << 1,
}
