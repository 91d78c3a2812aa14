namespace Engine.Blocks;

/// <summary>
/// The Linux errno values Engine names: the only table of them (the native layer, the NBD server's error mapping and
/// the repository all use these). x86-64 and arm64 share the generic numbering.
/// </summary>
internal static class Errno
{
#pragma warning disable CS1591 // the names are the documentation
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int EACCES = 13;
    public const int EEXIST = 17;
    public const int EIO = 5;
    public const int EBADF = 9;
    public const int EAGAIN = 11;
    public const int ENOMEM = 12;
    public const int EFAULT = 14;
    public const int EINVAL = 22;
    public const int ENOTDIR = 20;
    public const int EISDIR = 21;
    public const int EFBIG = 27;
    public const int ENOSPC = 28;
    public const int ESPIPE = 29;
    public const int EROFS = 30;
    public const int EPIPE = 32;
    public const int ENXIO = 6;
    public const int EOPNOTSUPP = 95;
    public const int ENOTSUP = 95;
    public const int EOVERFLOW = 75;
    public const int ECONNRESET = 104;
    public const int ENOTCONN = 107;
    public const int ESHUTDOWN = 108;
    public const int EDQUOT = 122;
    public const int EINTR = 4;
    public const int ENOTTY = 25;
    public const int ENOSYS = 38;
    public const int ERANGE = 34;
    public const int ENOTEMPTY = 39;
    public const int ELOOP = 40;
    public const int EWOULDBLOCK = EAGAIN;
    public const int ENODATA = 61;
#pragma warning restore CS1591
}
