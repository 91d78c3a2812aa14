using Engine.Blocks.Native;
using Microsoft.Win32.SafeHandles;

namespace Engine.Blocks.Devices;

/// <summary>
/// Write-back hints for a file written front to back, far beyond what the page cache holds (a raw target in streaming
/// mode, a qcow2 conversion): without them the kernel lets dirty pages pile up and then throttles the writer in bursts.
/// </summary>
internal static class StreamingWriteBack
{
    /// <summary>How far behind the newest write the pages are dropped: enough for their write-back to finish in between.</summary>
    public const long Lag = 64L << 20;

    /// <summary>
    /// Starts write-back of the range just written, and drops from the page cache the range written <see cref="Lag"/>
    /// bytes earlier, waiting for its write-back (started long ago, so normally done). Failures are ignored: these are
    /// hints, and a real write error surfaces at the next flush.
    /// </summary>
    public static void After(SafeFileHandle handle, long offset, int length)
    {
        _ = LibC.SyncFileRange(handle, offset, length, LibC.SYNC_FILE_RANGE_WRITE);
        var old = offset - Lag;
        if (old >= 0)
        {
            _ = LibC.SyncFileRange(handle, old, length, LibC.SYNC_FILE_RANGE_WAIT_BEFORE | LibC.SYNC_FILE_RANGE_WRITE | LibC.SYNC_FILE_RANGE_WAIT_AFTER);
            _ = LibC.PosixFAdvise(handle, old, length, LibC.POSIX_FADV_DONTNEED);
        }
    }
}
