using Engine.Blocks.Buffers;

namespace Engine.Blocks.Fuse;

/// <summary>How a <see cref="FuseBlockFile"/> serves its file.</summary>
internal sealed record FuseBlockFileOptions
{
    /// <summary>
    /// Open the file with FOPEN_DIRECT_IO: every read reaches the device as the reader asked it (up to the kernel's
    /// 1 MiB FUSE request), no copy passes through the page cache, and a restore does not fill the cache with a disk
    /// nobody reads twice. Off: the kernel's page cache and its read-ahead sit in between.
    /// </summary>
    public bool DirectIo { get; init; } = true;

    /// <summary>Threads taking requests off the mount (each answers reads whose data is ready, and lseeks).</summary>
    public int Threads { get; init; } = 4;

    /// <summary>Where read buffers come from; the shared pool when null.</summary>
    public BufferPool? Pool { get; init; }

    /// <summary>Told of every request that failed (the file's path and the cause), after the reader got its errno; what it throws is ignored.</summary>
    public Action<string, Exception>? OnError { get; init; }
}
