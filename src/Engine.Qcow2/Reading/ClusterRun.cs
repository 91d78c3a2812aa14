namespace Engine.Qcow2.Reading;

/// <summary>What a run of guest bytes maps to.</summary>
internal enum ClusterRunKind
{
    /// <summary>Stored uncompressed at a host offset, contiguous for the whole run.</summary>
    Data,

    /// <summary>Part of one compressed cluster (the run's <see cref="ClusterRun.HostOffset"/> holds the raw L2 entry).</summary>
    Compressed,

    /// <summary>Reads as zeroes (a zero cluster or subcluster); the backing file is not consulted.</summary>
    Zero,

    /// <summary>Not allocated here: reads from the backing file, or zeroes without one.</summary>
    Unallocated,
}

/// <summary>A run of guest bytes with one mapping, as <see cref="ClusterMapper"/> finds it.</summary>
/// <param name="Kind">The mapping.</param>
/// <param name="Length">Bytes in the run (at least one).</param>
/// <param name="HostOffset">For <see cref="ClusterRunKind.Data"/>, the file offset of the run's first byte; for
/// <see cref="ClusterRunKind.Compressed"/>, the raw L2 entry.</param>
internal readonly record struct ClusterRun(ClusterRunKind Kind, long Length, ulong HostOffset);
