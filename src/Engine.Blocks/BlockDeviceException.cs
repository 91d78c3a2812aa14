namespace Engine.Blocks;

/// <summary>A block-device failure carrying the Linux errno that describes it.</summary>
public sealed class BlockDeviceException : IOException
{
    /// <summary>Creates the exception.</summary>
    public BlockDeviceException(int errno, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Errno = errno;
        HResult = errno;
    }

    /// <summary>Creates the exception with a generic message.</summary>
    public BlockDeviceException() : this(Blocks.Errno.EIO, "I/O error") { }

    /// <summary>Creates the exception with <c>EIO</c>.</summary>
    public BlockDeviceException(string message) : this(Blocks.Errno.EIO, message) { }

    /// <summary>Creates the exception with <c>EIO</c>.</summary>
    public BlockDeviceException(string message, Exception innerException) : this(Blocks.Errno.EIO, message, innerException) { }

    /// <summary>The Linux errno (see <see cref="Blocks.Errno"/>).</summary>
    public int Errno { get; }
}
