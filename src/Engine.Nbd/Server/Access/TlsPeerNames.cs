using Engine.Nbd.Transport.Tls;

namespace Engine.Nbd.Server.Access;

/// <summary>Matching an <c>--allow</c> name against a TLS peer.</summary>
internal static class TlsPeerNames
{
    /// <summary>
    /// True if <paramref name="name"/> is the peer's PSK user name, certificate CN, or full subject DN. DNs compare
    /// as sets of attributes, ignoring order and spaces after commas: GnuTLS prints <c>CN=a,O=b</c>, .NET
    /// <c>CN=a, O=b</c>, and some tools list the attributes the other way round.
    /// </summary>
    public static bool IsNamed(this TlsPeer peer, string name)
    {
        if (string.Equals(peer.PskIdentity, name, StringComparison.Ordinal) || string.Equals(peer.CommonName, name, StringComparison.Ordinal))
        {
            return true;
        }

        return peer.Subject is not null && name.Contains('=', StringComparison.Ordinal) && SameAttributes(peer.Subject, name);
    }

    private static bool SameAttributes(string left, string right)
    {
        var a = Attributes(left);
        var b = Attributes(right);
        return a.Length == b.Length && a.Order(StringComparer.Ordinal).SequenceEqual(b.Order(StringComparer.Ordinal), StringComparer.Ordinal);
    }

    private static string[] Attributes(string dn) =>
        dn.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
}
