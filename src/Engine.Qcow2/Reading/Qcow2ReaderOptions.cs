namespace Engine.Qcow2.Reading;

/// <summary>Limits of a qcow2 reader: memory for cached tables, and how deep a backing chain may go.</summary>
public sealed record Qcow2ReaderOptions
{
    /// <summary>The defaults: 32 MiB of L2 tables per image (qemu's largest default), chains of up to 64 images.</summary>
    public static Qcow2ReaderOptions Default { get; } = new();

    /// <summary>Most bytes of L2 tables each image of the chain keeps in memory.</summary>
    public long L2CacheBytes { get; init; } = 32L << 20;

    /// <summary>Most images in a backing chain, the top one included; a longer chain is refused.</summary>
    public int MaxChainLength { get; init; } = 64;

    /// <summary>Most bytes of one persistent bitmap's data loaded into memory (one bit per granule of the disk).</summary>
    public long MaxBitmapBytes { get; init; } = 256L << 20;

    /// <summary>
    /// Which backing and external data files the images may name: regular files by default. An image whose format
    /// was probed rather than given should be opened with <see cref="Qcow2ExternalFiles.None"/>.
    /// </summary>
    public Qcow2ExternalFiles ExternalFiles { get; init; } = Qcow2ExternalFiles.RegularFiles;
}
