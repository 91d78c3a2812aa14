using System.Diagnostics.CodeAnalysis;

namespace Engine.Blocks.Devices;

/// <summary>
/// Range checks shared by the devices. Callers are supposed to validate, so these are the last line of defence:
/// a bad range becomes an errno the NBD server can send back instead of a corrupted or extended image.
/// </summary>
/// <remarks>
/// These run on every request, so they take the operation and the device's path apart and build the message only
/// when they throw: an interpolated <c>$"read on {path}"</c> at the call site would allocate a string per READ.
/// </remarks>
internal static class DeviceRange
{
    /// <summary>Throws <c>EINVAL</c> unless <c>[offset, offset+length)</c> lies inside a device of <paramref name="size"/> bytes.</summary>
    public static void Check(long offset, long length, long size, string operation, string? path = null) =>
        Check(offset, length, size, operation, path, Errno.EINVAL);

    /// <summary>Like <see cref="Check(long, long, long, string, string?)"/> but reports <c>ENOSPC</c> for a range past the end, as NBD wants for writes.</summary>
    public static void CheckWrite(long offset, long length, long size, string operation, string? path = null) =>
        Check(offset, length, size, operation, path, Errno.ENOSPC);

    /// <summary>Throws <c>EINVAL</c> unless the range is non-empty and inside the device (extent queries must cover at least one byte).</summary>
    public static void CheckNonEmpty(long offset, long length, long size, string operation, string? path = null)
    {
        Check(offset, length, size, operation, path);
        if (length == 0)
        {
            Throw(Errno.EINVAL, operation, path, $"at {offset}: empty range");
        }
    }

    private static void Check(long offset, long length, long size, string operation, string? path, int pastEndErrno)
    {
        if (offset < 0 || length < 0)
        {
            Throw(Errno.EINVAL, operation, path, $"at {offset}+{length}: negative offset or length");
        }

        // Written as a subtraction so that offset + length cannot overflow.
        if (offset > size || length > size - offset)
        {
            Throw(pastEndErrno, operation, path, $"at {offset}+{length}: beyond the end of the device ({size} bytes)");
        }
    }

    [DoesNotReturn]
    private static void Throw(int errno, string operation, string? path, string problem) =>
        throw new BlockDeviceException(errno, path is null ? $"{operation} {problem}" : $"{operation} on {path} {problem}");
}
