using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Engine.Blocks.Native;

namespace Engine.Nbd.Transport.Tls.Psk;

/// <summary>
/// What one connection's PSK callbacks need and what they learnt: the server's key file and the identity the client
/// offered (so a failed handshake can say "unknown identity" rather than "wrong key"), or the client's identity and
/// key. It reaches the callbacks through the <c>SSL*</c>'s ex-data slot as a <see cref="GCHandle"/>.
/// </summary>
internal sealed class PskHandshakeState
{
    /// <summary>The server's keys (null on the client).</summary>
    public PskKeyFile? Keys { get; init; }

    /// <summary>The client's identity (null on the server).</summary>
    public string? ClientIdentity { get; init; }

    /// <summary>The client's key (null on the server).</summary>
    public byte[]? ClientKey { get; init; }

    /// <summary>The identity the client offered, as the server saw it.</summary>
    public string? OfferedIdentity { get; set; }

    /// <summary>Whether the offered identity is in the key file.</summary>
    public bool IdentityKnown { get; set; }
}

/// <summary>
/// OpenSSL's PSK callbacks, as <c>[UnmanagedCallersOnly]</c> functions: OpenSSL calls them on the thread running
/// SSL_accept/SSL_connect. No exception may cross back into C, so each catches everything and answers "no key".
/// </summary>
internal static unsafe class PskCallbacks
{
    /// <summary>The ex-data slot the state lives in (0 is <c>SSL_set_app_data</c>'s, free for applications).</summary>
    public const int StateSlot = 0;

    public static delegate* unmanaged<nint, byte*, byte*, uint, uint> Server => &FindServerKey;

    public static delegate* unmanaged<nint, byte*, byte*, uint, byte*, uint, uint> Client => &ChooseClientKey;

    [UnmanagedCallersOnly]
    private static uint FindServerKey(nint ssl, byte* identity, byte* psk, uint maxPskLength)
    {
        try
        {
            var state = StateOf(ssl);
            if (state?.Keys is null || identity is null)
            {
                return 0;
            }

            var name = Marshal.PtrToStringUTF8((nint)identity) ?? string.Empty;
            state.OfferedIdentity = name;
            if (!state.Keys.TryGetKey(name, out var key) || key.Length > maxPskLength)
            {
                return 0;
            }

            state.IdentityKnown = true;
            key.CopyTo(new Span<byte>(psk, (int)maxPskLength));
            return (uint)key.Length;
        }
#pragma warning disable CA1031 // nothing may unwind into OpenSSL; "no key" fails the handshake, which then reports
        catch (Exception)
#pragma warning restore CA1031
        {
            return 0;
        }
    }

    [UnmanagedCallersOnly]
    private static uint ChooseClientKey(nint ssl, byte* hint, byte* identity, uint maxIdentityLength, byte* psk, uint maxPskLength)
    {
        try
        {
            var state = StateOf(ssl);
            if (state?.ClientIdentity is null || state.ClientKey is null || state.ClientKey.Length > maxPskLength)
            {
                return 0;
            }

            var into = new Span<byte>(identity, (int)maxIdentityLength);
            var written = Encoding.UTF8.GetBytes(state.ClientIdentity, into[..^1]);
            into[written] = 0;
            state.ClientKey.CopyTo(new Span<byte>(psk, (int)maxPskLength));
            return (uint)state.ClientKey.Length;
        }
#pragma warning disable CA1031 // as above
        catch (Exception)
#pragma warning restore CA1031
        {
            return 0;
        }
    }

    private static PskHandshakeState? StateOf(nint ssl)
    {
        var pointer = OpenSsl.SSL_get_ex_data(ssl, StateSlot);
        return pointer == 0 ? null : Unsafe.As<PskHandshakeState>(GCHandle.FromIntPtr(pointer).Target);
    }
}
