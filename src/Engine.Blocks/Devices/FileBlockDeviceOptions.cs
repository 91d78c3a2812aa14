namespace Engine.Blocks.Devices;

/// <summary>How <see cref="FileBlockDevice.Open"/> opens a file or block device.</summary>
public sealed record FileBlockDeviceOptions
{
    /// <summary>Read-write, through the page cache.</summary>
    public static FileBlockDeviceOptions Default { get; } = new();

    /// <summary>Open read-only; writes, trims and zeroing fail with <c>EPERM</c>.</summary>
    public bool ReadOnly { get; init; }

    /// <summary>
    /// Bypass the page cache (O_DIRECT). Offsets of reads and writes must then be multiples of
    /// <see cref="FileBlockDevice.MinimumBlockSize"/>; buffers and lengths need not be.
    /// </summary>
    public bool Direct { get; init; }

    /// <summary>Behave as if the filesystem had no fallocate(2), so tests can reach the fallbacks on filesystems that all have it.</summary>
    internal bool DisableFallocate { get; init; }
}
