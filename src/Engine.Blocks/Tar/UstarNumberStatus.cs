namespace Engine.Blocks.Tar;

/// <summary>How reading a numeric header field went; the reader words the error, naming its archive and offset.</summary>
internal enum UstarNumberStatus
{
    /// <summary>A valid number.</summary>
    Valid,

    /// <summary>A byte other than an octal digit, space or NUL.</summary>
    NotOctal,

    /// <summary>A GNU base-256 field with the sign byte 0xFF.</summary>
    NegativeBase256,

    /// <summary>A value larger than a long holds.</summary>
    Overflow,
}
