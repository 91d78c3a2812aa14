namespace Engine.Nbd.Protocol;

/// <summary>Fixed sizes and limits of the wire format.</summary>
public static class NbdWire
{
    /// <summary>Compact request header length.</summary>
    public const int RequestHeaderLength = 28;

    /// <summary>Extended request header length.</summary>
    public const int ExtendedRequestHeaderLength = 32;

    /// <summary>Simple reply header length.</summary>
    public const int SimpleReplyHeaderLength = 16;

    /// <summary>Structured reply chunk header length.</summary>
    public const int StructuredReplyHeaderLength = 20;

    /// <summary>Extended reply chunk header length.</summary>
    public const int ExtendedReplyHeaderLength = 32;

    /// <summary>Option request header: IHAVEOPT, option, length.</summary>
    public const int OptionHeaderLength = 16;

    /// <summary>Option reply header: magic, option, reply type, length.</summary>
    public const int OptionReplyHeaderLength = 20;

    /// <summary>The protocol's string limit (export names, queries, messages).</summary>
    public const int MaxStringLength = 4096;

    /// <summary>The payload size every server should accept (2^25).</summary>
    public const int DefaultMaxPayload = 32 << 20;

    /// <summary>Context name of the standard allocation context.</summary>
    public const string BaseAllocation = "base:allocation";

    /// <summary>Well-known NBD TCP port.</summary>
    public const int DefaultPort = 10809;
}
