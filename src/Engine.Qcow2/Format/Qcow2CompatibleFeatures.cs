namespace Engine.Qcow2.Format;

/// <summary>The header's <c>compatible_features</c> bits: unknown ones may be ignored.</summary>
[Flags]
public enum Qcow2CompatibleFeatures : ulong
{
    /// <summary>No bit set.</summary>
    None = 0,

    /// <summary>Bit 0: refcount updates may be postponed (the dirty bit then guards them).</summary>
    LazyRefcounts = 1UL << 0,
}
