using Engine.Blocks.Native;

namespace Engine.Nbd.Transport.Tls.Psk;

/// <summary>Turns a missing OpenSSL into a message that names the package, instead of the runtime's DllNotFoundException text.</summary>
internal static class PskLibrary
{
    public static SslContextHandle CreateContext(bool server)
    {
        try
        {
            return PskContext.Create(server);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            throw new NbdTlsException("TLS-PSK needs OpenSSL 3 (libssl.so.3): install the Debian package libssl3", e);
        }
    }
}
