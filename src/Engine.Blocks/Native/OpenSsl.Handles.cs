using Microsoft.Win32.SafeHandles;

namespace Engine.Blocks.Native;

/// <summary>An OpenSSL <c>SSL_CTX*</c>: the credentials and settings shared by every connection of one server or client.</summary>
internal sealed class SslContextHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    /// <summary>For the marshaller, which fills in the pointer <c>SSL_CTX_new</c> returned.</summary>
    public SslContextHandle()
        : base(ownsHandle: true)
    {
    }

    protected override bool ReleaseHandle()
    {
        OpenSsl.SSL_CTX_free(handle);
        return true;
    }
}

/// <summary>
/// An OpenSSL <c>SSL*</c>: one connection. As a safe handle, every call holds a reference for its duration, so the
/// <c>SSL_free</c> of a dispose waits for a read still running on another thread instead of freeing memory under it.
/// </summary>
internal sealed class SslHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    /// <summary>For the marshaller, which fills in the pointer <c>SSL_new</c> returned.</summary>
    public SslHandle()
        : base(ownsHandle: true)
    {
    }

    protected override bool ReleaseHandle()
    {
        OpenSsl.SSL_free(handle);
        return true;
    }
}
