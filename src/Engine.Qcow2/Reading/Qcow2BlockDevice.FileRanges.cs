using Engine.Blocks.Devices;
using Microsoft.Win32.SafeHandles;

namespace Engine.Qcow2.Reading;

/// <summary>
/// The guest-to-file mapping for the NBD server's zero-copy reads: plain data clusters, contiguous on the host, are
/// sent with sendfile(2) straight from the image (or its external data file); everything else (compressed, zero,
/// backing and unallocated clusters) is read through the device.
/// </summary>
public sealed partial class Qcow2BlockDevice : IFileRangeSource
{
    /// <inheritdoc />
    SafeFileHandle IFileRangeSource.Handle => _image.DataFile.Handle;

    /// <inheritdoc />
    long IFileRangeSource.MapToFile(long offset, long length, out long fileOffset)
    {
        ThrowIfDisposed();
        var run = Map(offset, length);
        fileOffset = (long)run.HostOffset;

        // Clusters past the end of the file read as zeroes through pread; sendfile would come up short and break the
        // stream, so they are left to the device.
        return run.Kind == ClusterRunKind.Data ? Math.Clamp(_image.DataFile.Length - fileOffset, 0, run.Length) : 0;
    }
}
