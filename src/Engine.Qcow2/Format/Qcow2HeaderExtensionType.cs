namespace Engine.Qcow2.Format;

/// <summary>The type word of a header extension; unknown types may be skipped.</summary>
public enum Qcow2HeaderExtensionType : uint
{
    /// <summary>End of the header extension area.</summary>
    End = 0,

    /// <summary>The backing file's format name ("qcow2", "raw").</summary>
    BackingFormat = 0xe2792aca,

    /// <summary>Names of feature bits, for messages about bits a reader does not know.</summary>
    FeatureNameTable = 0x6803f857,

    /// <summary>Where the bitmap directory is (<see cref="Qcow2BitmapsExtension"/>).</summary>
    Bitmaps = 0x23852875,

    /// <summary>Where the LUKS header is.</summary>
    FullDiskEncryption = 0x0537be77,

    /// <summary>The external data file's name.</summary>
    ExternalDataFile = 0x44415441,
}
