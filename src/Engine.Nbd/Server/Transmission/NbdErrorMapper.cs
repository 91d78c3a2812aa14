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
