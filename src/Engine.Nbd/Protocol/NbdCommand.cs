namespace Engine.Nbd.Protocol;

/// <summary>Transmission request types (<c>NBD_CMD_*</c>).</summary>
internal enum NbdCommand : ushort
{
#pragma warning disable CS1591
    Read = 0,
    Write = 1,
    Disconnect = 2,
    Flush = 3,
    Trim = 4,
    Cache = 5,
    WriteZeroes = 6,
    BlockStatus = 7,
#pragma warning restore CS1591
}

/// <summary>Structured and extended reply chunk types (<c>NBD_REPLY_TYPE_*</c>).</summary>
internal enum NbdReplyType : ushort
{
#pragma warning disable CS1591
    None = 0,
    OffsetData = 1,
    OffsetHole = 2,
    BlockStatus = 5,
    BlockStatusExtended = 6,
    Error = (1 << 15) + 1,
    ErrorOffset = (1 << 15) + 2,
#pragma warning restore CS1591
}

/// <summary>Error values carried in replies (<c>NBD_E*</c>); deliberately equal to the Linux errno values.</summary>
public enum NbdError : uint
{
    /// <summary>No error.</summary>
    None = 0,

    /// <summary><c>NBD_EPERM</c>: the operation is not permitted (for example a write to a read-only export).</summary>
    Perm = 1,

    /// <summary><c>NBD_EIO</c>: an input/output error on the server's storage.</summary>
    Io = 5,

    /// <summary><c>NBD_ENOMEM</c>: the server ran out of memory.</summary>
    NoMemory = 12,

    /// <summary><c>NBD_EINVAL</c>: the request was invalid (bad flags, a range outside the export).</summary>
    Invalid = 22,

    /// <summary><c>NBD_ENOSPC</c>: the server's storage is full.</summary>
    NoSpace = 28,

    /// <summary><c>NBD_EOVERFLOW</c>: the request's length is larger than the server accepts.</summary>
    Overflow = 75,

    /// <summary><c>NBD_ENOTSUP</c>: the server does not support the command or flag.</summary>
    NotSupported = 95,

    /// <summary><c>NBD_ESHUTDOWN</c>: the server is shutting down and refuses new requests.</summary>
    Shutdown = 108,
}
