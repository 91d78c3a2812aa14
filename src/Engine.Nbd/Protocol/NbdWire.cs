namespace Engine.Nbd.Protocol;

/// <summary>
/// Sizes, limits and names of the wire format. The public ones are what a client or an embedder of the server needs
/// (meta context names, the default port, the limits peers must accept); header sizes stay inside the protocol code.
/// </summary>
public static class NbdWire
{
    /// <summary>Compact request header length.</summary>
    internal const int RequestHeaderLength = 28;

    /// <summary>Extended request header length.</summary>
    internal const int ExtendedRequestHeaderLength = 32;

    /// <summary>Simple reply header length.</summary>
    internal const int SimpleReplyHeaderLength = 16;

    /// <summary>Structured reply chunk header length.</summary>
    internal const int StructuredReplyHeaderLength = 20;

    /// <summary>Extended reply chunk header length.</summary>
    internal const int ExtendedReplyHeaderLength = 32;

    /// <summary>Option request header: IHAVEOPT, option, length.</summary>
    internal const int OptionHeaderLength = 16;

    /// <summary>Option reply header: magic, option, reply type, length.</summary>
    internal const int OptionReplyHeaderLength = 20;

    /// <summary>The protocol's string limit (export names, queries, messages).</summary>
    public const int MaxStringLength = 4096;

    /// <summary>The payload size every server should accept (2^25).</summary>
    public const int DefaultMaxPayload = 32 << 20;

    /// <summary>Context name of the standard allocation context.</summary>
    public const string BaseAllocation = "base:allocation";

    /// <summary>
    /// Prefix of QEMU's dirty-bitmap contexts: <c>qemu:dirty-bitmap:NAME</c> reports bit 0 set for the regions
    /// written since bitmap NAME was last cleared.
    /// </summary>
    public const string QemuDirtyBitmapPrefix = "qemu:dirty-bitmap:";

    /// <summary>Well-known NBD TCP port.</summary>
    public const int DefaultPort = 10809;
}
