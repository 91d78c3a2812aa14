namespace Engine.Blocks;

/// <summary>Capabilities a block device advertises; the NBD server turns them into transmission flags in one place.</summary>
[Flags]
public enum BlockDeviceCapabilities
{
    /// <summary>Plain reads only.</summary>
    None = 0,
    /// <summary>Writes, trims and zeroing are refused with <c>EPERM</c>.</summary>
    ReadOnly = 1 << 0,
    /// <summary><see cref="IBlockDevice.FlushAsync"/> does real work (the device has a volatile cache).</summary>
    Flush = 1 << 1,
    /// <summary>Writes honour <see cref="WriteFlags.Fua"/>.</summary>
    Fua = 1 << 2,
    /// <summary><see cref="IBlockDevice.TrimAsync"/> may deallocate.</summary>
    Trim = 1 << 3,
    /// <summary><see cref="IBlockDevice.WriteZeroesAsync"/> is supported.</summary>
    WriteZeroes = 1 << 4,
    /// <summary><see cref="WriteZeroesFlags.FastOnly"/> can succeed (zeroing is cheaper than writing).</summary>
    FastZero = 1 << 5,
    /// <summary><see cref="IBlockDevice.CacheAsync"/> does real prefetching.</summary>
    Cache = 1 << 6,
    /// <summary>Several connections may use the device at once and see each other's flushed writes.</summary>
    MultiConnSafe = 1 << 7,
    /// <summary><see cref="IBlockDevice.GetExtentsAsync"/> reports real holes and zeroes.</summary>
    Extents = 1 << 8,
}
