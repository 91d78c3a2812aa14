namespace Engine.Qcow2.Format;

/// <summary>The header's <c>incompatible_features</c> bits: a reader must refuse an image with a bit it does not know.</summary>
[Flags]
public enum Qcow2IncompatibleFeatures : ulong
{
    /// <summary>No bit set.</summary>
    None = 0,

    /// <summary>Bit 0: refcounts may be inconsistent (a writer crashed with lazy refcounts).</summary>
    Dirty = 1UL << 0,

    /// <summary>Bit 1: any structure may be corrupt; the image must not be written.</summary>
    Corrupt = 1UL << 1,

    /// <summary>Bit 2: guest clusters live in an external data file.</summary>
    ExternalDataFile = 1UL << 2,

    /// <summary>Bit 3: the <c>compression_type</c> field is present and non-zero.</summary>
    CompressionType = 1UL << 3,

    /// <summary>Bit 4: L2 entries are 128 bits with a subcluster bitmap.</summary>
    ExtendedL2 = 1UL << 4,

    /// <summary>Every bit this version of the specification defines.</summary>
    Known = Dirty | Corrupt | ExternalDataFile | CompressionType | ExtendedL2,
}
