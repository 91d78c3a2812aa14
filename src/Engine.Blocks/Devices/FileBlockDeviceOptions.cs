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

    /// <summary>
    /// Streaming writes for bulk copies: each write starts its own writeback, and pages written well before are
    /// dropped from the page cache once on disk, so a copy of many GiB does not push everything else out of memory
    /// (and reuses cache-hot pages instead of faulting in new ones).
    /// </summary>
    public bool StreamingWrites { get; init; }

    /// <summary>Behave as if the filesystem had no fallocate(2), so tests can reach the fallbacks on filesystems that all have it.</summary>
    internal bool DisableFallocate { get; init; }
}
