using Engine.Nbd.Protocol;

namespace Engine.Nbd.Server.Handshake;

/// <summary>What a finished handshake agreed on; the only way into the transmission phase.</summary>
internal sealed class NegotiatedSession(NbdExport export, TransmissionFlags flags, bool structuredReplies, bool extendedHeaders, uint[] metaContextIds)
{
    public NbdExport Export { get; } = export;

    public TransmissionFlags Flags { get; } = flags;

    /// <summary>Structured replies are in use (always true with extended headers).</summary>
    public bool StructuredReplies { get; } = structuredReplies || extendedHeaders;

    public bool ExtendedHeaders { get; } = extendedHeaders;

    /// <summary>Meta contexts selected with NBD_OPT_SET_META_CONTEXT, by registry ID.</summary>
    public uint[] MetaContextIds { get; } = metaContextIds;
}
