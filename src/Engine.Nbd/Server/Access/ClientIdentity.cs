using Engine.Nbd.Transport.Tls;

namespace Engine.Nbd.Server.Access;

/// <summary>What the server knows about who is connected: the TLS peer (once TLS is up) and the Unix peer's uid.</summary>
internal readonly record struct ClientIdentity(TlsPeer? Peer, uint? Uid)
{
    public override string ToString() =>
        (Peer, Uid) switch
        {
            (null, null) => "an unauthenticated client",
            (null, { } uid) => $"uid {uid} (no TLS identity)",
            ({ } peer, null) => peer.ToString(),
            ({ } peer, { } uid) => $"{peer}, uid {uid}",
        };
}
