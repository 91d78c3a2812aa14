namespace Engine.Nbd.Protocol;

/// <summary>Server handshake flags (16 bits).</summary>
[Flags]
public enum HandshakeFlags : ushort
{
#pragma warning disable CS1591
    None = 0,
    FixedNewstyle = 1,
    NoZeroes = 2,
#pragma warning restore CS1591
}

/// <summary>Client flags (32 bits), sent in reply to the handshake flags.</summary>
[Flags]
public enum ClientFlags : uint
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
#pragma warning disable CS1591
    None = 0,
    HasFlags = 1 << 0,
    ReadOnly = 1 << 1,
    SendFlush = 1 << 2,
    SendFua = 1 << 3,
    Rotational = 1 << 4,
    SendTrim = 1 << 5,
    SendWriteZeroes = 1 << 6,
    SendDf = 1 << 7,
    CanMultiConn = 1 << 8,
    SendResize = 1 << 9,
    SendCache = 1 << 10,
    SendFastZero = 1 << 11,
    BlockStatusPayload = 1 << 12,
#pragma warning restore CS1591
}

/// <summary>Command flags (16 bits) in a request.</summary>
[Flags]
public enum CommandFlags : ushort
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
public enum ReplyFlags : ushort
{
#pragma warning disable CS1591
    None = 0,
    Done = 1,
#pragma warning restore CS1591
}
