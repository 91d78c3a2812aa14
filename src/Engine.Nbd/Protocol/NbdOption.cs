namespace Engine.Nbd.Protocol;

/// <summary>Option haggling requests (<c>NBD_OPT_*</c>).</summary>
internal enum NbdOption : uint
{
#pragma warning disable CS1591 // names mirror the specification
    ExportName = 1,
    Abort = 2,
    List = 3,
    PeekExport = 4,
    StartTls = 5,
    Info = 6,
    Go = 7,
    StructuredReply = 8,
    ListMetaContext = 9,
    SetMetaContext = 10,
    ExtendedHeaders = 11,
#pragma warning restore CS1591
}

/// <summary>Option reply types (<c>NBD_REP_*</c>); values with bit 31 set are errors.</summary>
internal enum NbdOptionReply : uint
{
#pragma warning disable CS1591
    Ack = 1,
    Server = 2,
    Info = 3,
    MetaContext = 4,
    ErrUnsupported = 0x8000_0001,
    ErrPolicy = 0x8000_0002,
    ErrInvalid = 0x8000_0003,
    ErrPlatform = 0x8000_0004,
    ErrTlsRequired = 0x8000_0005,
    ErrUnknown = 0x8000_0006,
    ErrShutdown = 0x8000_0007,
    ErrBlockSizeRequired = 0x8000_0008,
    ErrTooBig = 0x8000_0009,
    ErrExtendedHeaderRequired = 0x8000_000a,
#pragma warning restore CS1591
}

/// <summary>Information types in <c>NBD_OPT_INFO</c>/<c>NBD_OPT_GO</c> (<c>NBD_INFO_*</c>).</summary>
internal enum NbdInfo : ushort
{
#pragma warning disable CS1591
    Export = 0,
    Name = 1,
    Description = 2,
    BlockSize = 3,
#pragma warning restore CS1591
}
