namespace Engine.Qcow2.Format;

/// <summary>Which feature bitmap a feature name table entry names a bit of.</summary>
public enum Qcow2FeatureKind : byte
{
    /// <summary>A bit of <c>incompatible_features</c>.</summary>
    Incompatible = 0,

    /// <summary>A bit of <c>compatible_features</c>.</summary>
    Compatible = 1,

    /// <summary>A bit of <c>autoclear_features</c>.</summary>
    Autoclear = 2,
}
