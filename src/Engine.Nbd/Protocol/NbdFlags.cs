namespace Engine.Nbd.Protocol;

/// <summary>Server handshake flags (16 bits).</summary>
[Flags]
internal enum HandshakeFlags : ushort
{
#pragma warning disable CS1591
    None = 0,
    FixedNewstyle = 1,
    NoZeroes = 2,
#pragma warning restore CS1591
}

/// <summary>Client flags (32 bits), sent in reply to the handshake flags.</summary>
[Flags]
internal enum ClientFlags : uint
{
#pragma warning disable CS1591
    None = 0,
    FixedNewstyle = 1,
    NoZeroes = 2,
#pragma warning restore CS1591
}

/// <summary>Per-export transmission flags (16 bits).</summary>
[Flags]
public enum TransmissionFlags : ushort
{
    /// <summary>No flag.</summary>
    None = 0,

    /// <summary><c>NBD_FLAG_HAS_FLAGS</c>: always set by a server that sends these flags.</summary>
    HasFlags = 1 << 0,

    /// <summary><c>NBD_FLAG_READ_ONLY</c>: the export refuses writes.</summary>
    ReadOnly = 1 << 1,

    /// <summary><c>NBD_FLAG_SEND_FLUSH</c>: the server accepts <c>NBD_CMD_FLUSH</c>.</summary>
    SendFlush = 1 << 2,

    /// <summary><c>NBD_FLAG_SEND_FUA</c>: the server honours the force-unit-access flag on writes.</summary>
    SendFua = 1 << 3,

    /// <summary><c>NBD_FLAG_ROTATIONAL</c>: the storage behind the export is a rotational disk.</summary>
    Rotational = 1 << 4,

    /// <summary><c>NBD_FLAG_SEND_TRIM</c>: the server accepts <c>NBD_CMD_TRIM</c>.</summary>
    SendTrim = 1 << 5,

    /// <summary><c>NBD_FLAG_SEND_WRITE_ZEROES</c>: the server accepts <c>NBD_CMD_WRITE_ZEROES</c>.</summary>
    SendWriteZeroes = 1 << 6,

    /// <summary><c>NBD_FLAG_SEND_DF</c>: the server honours "don't fragment" on structured reads.</summary>
    SendDf = 1 << 7,

    /// <summary><c>NBD_FLAG_CAN_MULTI_CONN</c>: several connections to the export see each other's writes after a flush.</summary>
    CanMultiConn = 1 << 8,

    /// <summary><c>NBD_FLAG_SEND_RESIZE</c>: the server accepts <c>NBD_CMD_RESIZE</c>.</summary>
    SendResize = 1 << 9,

    /// <summary><c>NBD_FLAG_SEND_CACHE</c>: the server accepts <c>NBD_CMD_CACHE</c>.</summary>
    SendCache = 1 << 10,

    /// <summary><c>NBD_FLAG_SEND_FAST_ZERO</c>: the server honours the fast-zero flag on write-zeroes.</summary>
    SendFastZero = 1 << 11,

    /// <summary><c>NBD_FLAG_BLOCK_STAT_PAYLOAD</c>: the server accepts a payload on <c>NBD_CMD_BLOCK_STATUS</c> (extended headers).</summary>
    BlockStatusPayload = 1 << 12,
}

/// <summary>Command flags (16 bits) in a request.</summary>
[Flags]
internal enum CommandFlags : ushort
{
#pragma warning disable CS1591
    None = 0,
    Fua = 1 << 0,
    NoHole = 1 << 1,
    DontFragment = 1 << 2,
    ReqOne = 1 << 3,
    FastZero = 1 << 4,
    PayloadLength = 1 << 5,
#pragma warning restore CS1591
}

/// <summary>Reply chunk flags (16 bits).</summary>
[Flags]
internal enum ReplyFlags : ushort
{
#pragma warning disable CS1591
    None = 0,
    Done = 1,
#pragma warning restore CS1591
}
