namespace Engine.Provider.Api;

/// <summary><c>bitmap-mode</c> of a volume in <c>backup_vm</c>.</summary>
public enum BitmapMode
{
    /// <summary><c>none</c>: no bitmap, a full backup.</summary>
    None,

    /// <summary><c>new</c>: the bitmap was just (re)created and is fully dirty; a full backup that starts its lineage.</summary>
    New,

    /// <summary><c>reuse</c>: the bitmap holds the changes since the last successful backup that used it.</summary>
    Reuse,
}
