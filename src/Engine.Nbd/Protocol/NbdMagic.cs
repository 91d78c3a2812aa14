namespace Engine.Nbd.Protocol;

/// <summary>Magic numbers of the NBD wire protocol.</summary>
internal static class NbdMagic
{
    /// <summary>"NBDMAGIC": the first 8 bytes a server sends.</summary>
    public const ulong InitPassword = 0x4e42444d41474943;

    /// <summary>"IHAVEOPT": newstyle negotiation marker, and the prefix of every client option.</summary>
    public const ulong IHaveOpt = 0x49484156454F5054;

    /// <summary>Prefix of every server option reply.</summary>
    public const ulong OptionReply = 0x0003e889045565a9;

    /// <summary>Compact (28-byte) request header.</summary>
    public const uint Request = 0x25609513;

    /// <summary>Extended (32-byte) request header.</summary>
    public const uint ExtendedRequest = 0x21e41c71;

    /// <summary>Simple (16-byte) reply header.</summary>
    public const uint SimpleReply = 0x67446698;

    /// <summary>Structured (20-byte) reply chunk header.</summary>
    public const uint StructuredReply = 0x668e33ef;

    /// <summary>Extended (32-byte) reply chunk header.</summary>
    public const uint ExtendedReply = 0x6e8a278c;
}
