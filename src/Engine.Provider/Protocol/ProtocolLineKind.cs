namespace Engine.Provider.Protocol;

/// <summary>The kinds of <see cref="ProtocolLine"/>.</summary>
internal enum ProtocolLineKind
{
    /// <summary>A line kept whole.</summary>
    Line,

    /// <summary>A line longer than the limit.</summary>
    TooLong,

    /// <summary>The end of input.</summary>
    End,
}
