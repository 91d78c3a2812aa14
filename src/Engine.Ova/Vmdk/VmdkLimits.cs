namespace Engine.Ova.Vmdk;

/// <summary>Bounds on what a VMDK may make the reader allocate or write.</summary>
public sealed record VmdkLimits
{
    /// <summary>Defaults: 64 TiB disks, 256 MiB of metadata before the first grain.</summary>
    public static VmdkLimits Default { get; } = new();

    /// <summary>Largest virtual size accepted.</summary>
    public long MaxCapacityBytes { get; init; } = 64L << 40;

    /// <summary>Largest metadata area (header, descriptor, grain directory and tables) read into memory.</summary>
    public int MaxPrologueBytes { get; init; } = 256 << 20;
}
