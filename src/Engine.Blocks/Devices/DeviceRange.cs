namespace Engine.Blocks.Devices;

/// <summary>
/// Range checks shared by the devices. Callers are supposed to validate, so these are the last line of defence:
/// a bad range becomes an errno the NBD server can send back instead of a corrupted or extended image.
/// </summary>
internal static class DeviceRange
{
    /// <summary>Throws <c>EINVAL</c> unless <c>[offset, offset+length)</c> lies inside a device of <paramref name="size"/> bytes.</summary>
    public static void Check(long offset, long length, long size, string operation) =>
        Check(offset, length, size, operation, Errno.EINVAL);

    /// <summary>Like <see cref="Check(long, long, long, string)"/> but reports <c>ENOSPC</c> for a range past the end, as NBD wants for writes.</summary>
    public static void CheckWrite(long offset, long length, long size, string operation) =>
        Check(offset, length, size, operation, Errno.ENOSPC);

    private static void Check(long offset, long length, long size, string operation, int pastEndErrno)
    {
        if (offset < 0 || length < 0)
        {
            throw new BlockDeviceException(Errno.EINVAL, $"{operation} at {offset}+{length}: negative offset or length");
        }

        // Written as a subtraction so that offset + length cannot overflow.
        if (offset > size || length > size - offset)
        {
            throw new BlockDeviceException(pastEndErrno, $"{operation} at {offset}+{length}: beyond the end of the device ({size} bytes)");
        }
    }

    /// <summary>Throws <c>EINVAL</c> unless the range is non-empty and inside the device (extent queries must cover at least one byte).</summary>
    public static void CheckNonEmpty(long offset, long length, long size, string operation)
    {
        Check(offset, length, size, operation);
        if (length == 0)
        {
            throw new BlockDeviceException(Errno.EINVAL, $"{operation} at {offset}: empty range");
        }
    }
}
