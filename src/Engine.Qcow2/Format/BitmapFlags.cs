namespace Engine.Qcow2.Format;

/// <summary>The flags of a bitmap directory entry.</summary>
[Flags]
public enum BitmapFlags : uint
{
    /// <summary>No flag.</summary>
    None = 0,

    /// <summary>Bit 0: the bitmap was not saved cleanly and may be inconsistent.</summary>
    InUse = 1u << 0,

    /// <summary>Bit 1: the bitmap is enabled (tracks every write).</summary>
    Auto = 1u << 1,

    /// <summary>Bit 2: unknown extra data may be ignored.</summary>
    ExtraDataCompatible = 1u << 2,

    /// <summary>Every flag the specification defines.</summary>
    Known = InUse | Auto | ExtraDataCompatible,
}
