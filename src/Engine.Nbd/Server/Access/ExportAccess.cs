namespace Engine.Nbd.Server.Access;

/// <summary>
/// Who may use an export: TLS client names (a certificate's full subject DN or its CN, or a PSK user name) and, on a
/// Unix socket, peer user IDs from SO_PEERCRED. Each non-empty list must be satisfied: with both, a client needs a
/// listed name and a listed uid. A client not admitted does not see the export in NBD_OPT_LIST and is refused it
/// with NBD_REP_ERR_POLICY.
/// </summary>
public sealed class ExportAccess
{
    /// <summary>Creates the rule.</summary>
    /// <param name="clients">Certificate subjects (<c>CN=alice,O=Example</c>), common names (<c>alice</c>) or PSK user names.</param>
    /// <param name="uids">User IDs admitted on a Unix socket.</param>
    public ExportAccess(IEnumerable<string> clients, IEnumerable<uint> uids)
    {
        ArgumentNullException.ThrowIfNull(clients);
        ArgumentNullException.ThrowIfNull(uids);
        Clients = [.. clients];
        Uids = [.. uids];
    }

    /// <summary>The TLS client names admitted; empty: any.</summary>
    public IReadOnlyList<string> Clients { get; }

    /// <summary>The Unix peer user IDs admitted; empty: any.</summary>
    public IReadOnlyList<uint> Uids { get; }

    internal bool Admits(in ClientIdentity client)
    {
        if (Clients.Count > 0 && (client.Peer is null || !Clients.Any(client.Peer.IsNamed)))
        {
            return false;
        }

        return Uids.Count == 0 || (client.Uid is { } uid && Uids.Contains(uid));
    }
}
