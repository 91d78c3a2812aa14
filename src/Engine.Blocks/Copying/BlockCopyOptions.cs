namespace Engine.Blocks.Copying;

/// <summary>How <see cref="BlockCopier"/> copies.</summary>
public sealed class BlockCopyOptions
{
    /// <summary>Bytes per read/write request.</summary>
    public int RequestSize { get; init; } = 256 << 10;

    /// <summary>Requests in flight at once.</summary>
    public int RequestsInFlight { get; init; } = 64;

    /// <summary>Write zeroes for holes instead of leaving (or punching) holes in the target.</summary>
    public bool Allocated { get; init; }

    /// <summary>The target is known to read as zeroes already (a new file, <c>null:</c>): holes need no writes at all.</summary>
    public bool TargetIsZeroed { get; init; }

    /// <summary>Flush the target once everything is written, so the copy is durable when the call returns.</summary>
    public bool FlushTarget { get; init; } = true;

    /// <summary>Treat data blocks that are all zero as holes.</summary>
    public bool DetectZeroes { get; init; } = true;

    /// <summary>
    /// When set, only ranges whose extents have a bit of <see cref="SelectionMask"/> set are copied (for example the
    /// dirty extents of <c>qemu:dirty-bitmap:NAME</c>); everything else is left untouched in the target.
    /// </summary>
    public ExtentQuery? Selection { get; init; }

    /// <summary>Status bits that select an extent of <see cref="Selection"/> (bit 0 is "dirty" for QEMU bitmaps).</summary>
    public uint SelectionMask { get; init; } = 1;

    /// <summary>Told the running total of source bytes handled.</summary>
    public IProgress<long>? Progress { get; init; }
}

/// <summary>What a copy did.</summary>
/// <param name="Bytes">Size of the source.</param>
/// <param name="DataBytes">Bytes read and written as data.</param>
/// <param name="ZeroBytes">Bytes handled as holes or zeroes (skipped, zeroed or punched).</param>
public sealed record BlockCopyResult(long Bytes, long DataBytes, long ZeroBytes);
