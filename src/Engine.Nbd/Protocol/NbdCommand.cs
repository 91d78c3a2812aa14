namespace Engine.Nbd.Protocol;

/// <summary>Transmission request types (<c>NBD_CMD_*</c>).</summary>
public enum NbdCommand : ushort
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
public enum NbdReplyType : ushort
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
#pragma warning disable CS1591
    None = 0,
    Perm = 1,
    Io = 5,
    NoMemory = 12,
    Invalid = 22,
    NoSpace = 28,
    Overflow = 75,
    NotSupported = 95,
    Shutdown = 108,
#pragma warning restore CS1591
}
