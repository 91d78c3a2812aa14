namespace Engine.Nbd.Client;

/// <summary>How an <see cref="NbdClient"/> connects and how hard it drives the server.</summary>
public sealed class NbdClientOptions
{
    /// <summary>Meta contexts to select (e.g. <c>base:allocation</c>, <c>qemu:dirty-bitmap:NAME</c>). <c>base:allocation</c> is always asked for.</summary>
    public IReadOnlyList<string> MetaContexts { get; init; } = [];

    /// <summary>List every meta context the export offers during the handshake (see <see cref="NbdExportInfo.AvailableMetaContexts"/>).</summary>
    public bool ListMetaContexts { get; init; }

    /// <summary>Ask for extended headers (64-bit lengths) when the server offers them.</summary>
    public bool ExtendedHeaders { get; init; } = true;

    /// <summary>Ask for structured replies (sparse reads, block status).</summary>
    public bool StructuredReplies { get; init; } = true;

    /// <summary>Connections to open; 0 picks one per core (up to 4) when the server advertises multi-conn, and 1 otherwise.</summary>
    public int Connections { get; init; }

    /// <summary>Requests in flight per connection before callers wait.</summary>
    public int RequestsInFlight { get; init; } = 64;

    /// <summary>
    /// How long to keep retrying while nothing listens yet (connection refused, socket file missing), for a server
    /// that is still starting. Zero, the default, tries once: an unreachable server fails at once.
    /// </summary>
    public TimeSpan ConnectTimeout { get; init; }

    /// <summary>
    /// How long one connection attempt may wait to be accepted, and the server to answer each handshake message.
    /// Bounds an address that never answers (dropped packets) as well as a server that accepts and then says nothing.
    /// </summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Run the code awaiting a request on the connection's reader thread as soon as the reply is in, instead of on
    /// the thread pool: one thread hop less per request, which a bulk copy feels. Only safe when that code never
    /// blocks waiting for another reply (no <c>.Wait()</c>/<c>.Result</c>), or it deadlocks the connection.
    /// </summary>
    public bool InlineCompletions { get; init; }

    /// <summary>A request without a reply for this long breaks its connection (failing everything in flight on it); null waits for ever.</summary>
    public TimeSpan? RequestTimeout { get; init; }
}
