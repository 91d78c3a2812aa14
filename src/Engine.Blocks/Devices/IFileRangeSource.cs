using Microsoft.Win32.SafeHandles;

namespace Engine.Blocks.Devices;

/// <summary>
/// A device whose data lies in one file, but not at the same offsets (an image format such as qcow2, whose clusters
/// are mapped through tables). The NBD server asks it where a guest range lies in the file, to answer reads of ranges
/// stored plainly with sendfile(2) from <see cref="Handle"/>, as it does for a raw file (<see cref="IFileHandleSource"/>).
/// </summary>
internal interface IFileRangeSource
{
    /// <summary>The descriptor the data is sent from. Owned by the device: do not dispose it, and only use positional calls on it.</summary>
    SafeFileHandle Handle { get; }

    /// <summary>
    /// Where the guest bytes from <paramref name="offset"/> lie in <see cref="Handle"/>: sets
    /// <paramref name="fileOffset"/> to the file offset of the byte at <paramref name="offset"/> and returns how many
    /// bytes from there (at most <paramref name="length"/>, at least one unless it returns 0) are contiguous in the file.
    /// Returns 0 when the bytes at <paramref name="offset"/> are not stored as they read (compressed, in a backing file,
    /// unallocated): the caller reads those through the device.
    /// </summary>
    /// <exception cref="BlockDeviceException">The mapping metadata is unreadable or malformed (EIO).</exception>
    long MapToFile(long offset, long length, out long fileOffset);
}
