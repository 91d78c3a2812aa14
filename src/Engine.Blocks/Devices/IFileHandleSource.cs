using Microsoft.Win32.SafeHandles;

namespace Engine.Blocks.Devices;

/// <summary>
/// A device backed by one open file descriptor. The NBD server checks for this interface to answer reads with
/// sendfile(2) straight from the descriptor to the socket instead of copying through user memory.
/// </summary>
internal interface IFileHandleSource
{
    /// <summary>The descriptor reads come from. Owned by the device: do not dispose it, and only use positional calls on it.</summary>
    SafeFileHandle Handle { get; }

    /// <summary>
    /// Whether sendfile(2) from <see cref="Handle"/> is correct. False for O_DIRECT handles: splice reads through the
    /// page cache, which O_DIRECT writes bypass, so it could send stale data.
    /// </summary>
    bool CanSendFile { get; }
}
