using Engine.Nbd.Protocol;

namespace Engine.Nbd.Client;

/// <summary>What the handshake learned about an export.</summary>
public sealed class NbdExportInfo
{
    /// <summary>Export name as requested.</summary>
    public required string Name { get; init; }

    /// <summary>Size in bytes.</summary>
    public required long Size { get; init; }

    /// <summary>Transmission flags.</summary>
    public required TransmissionFlags Flags { get; init; }

    /// <summary>Description, when the server sent one.</summary>
    public string? Description { get; init; }

    /// <summary>Minimum block size (1 when not advertised).</summary>
    public int MinimumBlockSize { get; init; } = 1;

    /// <summary>Preferred block size (4096 when not advertised).</summary>
    public int PreferredBlockSize { get; init; } = 4096;

    /// <summary>Maximum payload (32 MiB when not advertised).</summary>
    public int MaximumPayload { get; init; } = NbdWire.DefaultMaxPayload;

    /// <summary>Whether structured replies are in use.</summary>
    public bool StructuredReplies { get; init; }

    /// <summary>Whether extended headers are in use.</summary>
    public bool ExtendedHeaders { get; init; }

    /// <summary>Whether the server fell back to NBD_OPT_EXPORT_NAME (it does not know NBD_OPT_GO).</summary>
    public bool UsedExportName { get; init; }

    /// <summary>Selected meta contexts by name, with the server's IDs.</summary>
    public IReadOnlyDictionary<string, uint> MetaContexts { get; init; } = new Dictionary<string, uint>();

    /// <summary>Every meta context the server offers for the export, when <see cref="NbdClientOptions.ListMetaContexts"/> asked.</summary>
    public IReadOnlyList<string> AvailableMetaContexts { get; internal set; } = [];

    /// <summary>The TLS session the export was reached through (nbds://), or null in clear text.</summary>
    public NbdTlsInfo? Tls { get; internal set; }

    /// <summary>Read-only export.</summary>
    public bool IsReadOnly => Flags.HasFlag(TransmissionFlags.ReadOnly);

    /// <summary>Whether several connections may be used at once.</summary>
    public bool CanMultiConn => Flags.HasFlag(TransmissionFlags.CanMultiConn);
}

/// <summary>One export in a server's NBD_OPT_LIST answer.</summary>
/// <param name="Name">Export name.</param>
/// <param name="Description">Text the server sent after the name, if any.</param>
public sealed record NbdExportListing(string Name, string? Description);
