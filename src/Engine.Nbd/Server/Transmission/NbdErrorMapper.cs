using Engine.Blocks;
using Engine.Nbd.Protocol;

namespace Engine.Nbd.Server.Transmission;

/// <summary>The one place where failures become NBD error values.</summary>
internal static class NbdErrorMapper
{
    public static NbdError FromException(Exception exception) => exception switch
    {
        BlockDeviceException e => FromErrno(e.Errno),
        OperationCanceledException => NbdError.Shutdown,
        OutOfMemoryException => NbdError.NoMemory,
        ArgumentException => NbdError.Invalid,
        IOException e when e.HResult > 0 && e.HResult < 4096 => FromErrno(e.HResult),
        _ => NbdError.Io,
    };

    /// <summary>
    /// The error a failed <paramref name="request"/> gets. The spec allows <c>NBD_EOVERFLOW</c> only for a READ with
    /// <c>DF</c> and <c>NBD_ENOTSUP</c> only for a WRITE_ZEROES with <c>FAST_ZERO</c>; a client that asked neither
    /// would misread them, so a device's EOVERFLOW becomes <c>NBD_EINVAL</c> (the request cannot be served as
    /// asked) and its ENOTSUP becomes <c>NBD_EIO</c> (the export failed it).
    /// </summary>
    public static NbdError ForRequest(Exception exception, in RequestHeader request) => FromException(exception) switch
    {
        NbdError.Overflow when !(request.Command == NbdCommand.Read && (request.Flags & CommandFlags.DontFragment) != 0) => NbdError.Invalid,
        NbdError.NotSupported when !(request.Command == NbdCommand.WriteZeroes && (request.Flags & CommandFlags.FastZero) != 0) => NbdError.Io,
        var error => error,
    };

    public static NbdError FromErrno(int errno) => errno switch
    {
        Errno.EPERM or Errno.EROFS => NbdError.Perm,
        Errno.ENOMEM => NbdError.NoMemory,
        Errno.EINVAL => NbdError.Invalid,
        Errno.ENOSPC or Errno.EDQUOT or Errno.EFBIG => NbdError.NoSpace,
        Errno.EOVERFLOW => NbdError.Overflow,
        Errno.ENOTSUP => NbdError.NotSupported,
        Errno.ESHUTDOWN => NbdError.Shutdown,
        _ => NbdError.Io,
    };
}
