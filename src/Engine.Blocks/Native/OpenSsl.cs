using System.Runtime.InteropServices;
using System.Text;

namespace Engine.Blocks.Native;

/// <summary>
/// The part of OpenSSL 3 (<c>libssl.so.3</c>, <c>libcrypto.so.3</c>, on every Debian) that TLS with pre-shared keys
/// needs, because .NET's <c>SslStream</c> has no PSK. Declared here by P/Invoke rather than built as a C shim in
/// <c>native/</c>: the surface is about twenty plain C functions, a shim would add a compiler and a build step to every
/// user's set-up and a second library to ship beside the NativeAOT <c>engine</c>, and <c>[LibraryImport]</c> binds
/// lazily at first call, so a machine without libssl only fails when PSK is actually used. Callbacks are
/// <c>[UnmanagedCallersOnly]</c> function pointers (no delegates to keep alive, NativeAOT safe). Macros of
/// <c>ssl.h</c> (<c>SSL_CTX_set_mode</c>, <c>SSL_CTX_set_min_proto_version</c>) are their <c>SSL_CTX_ctrl</c>
/// calls. The <c>SSL_CTX*</c> and <c>SSL*</c> are <see cref="SslContextHandle"/> and <see cref="SslHandle"/>, so a
/// dispose racing a read on another thread cannot free the <c>SSL</c> under it.
/// </summary>
internal static unsafe partial class OpenSsl
{
    private const string Ssl = "libssl.so.3";
    private const string Crypto = "libcrypto.so.3";

    public const int SSL_ERROR_NONE = 0;
    public const int SSL_ERROR_SSL = 1;
    public const int SSL_ERROR_WANT_READ = 2;
    public const int SSL_ERROR_WANT_WRITE = 3;
    public const int SSL_ERROR_SYSCALL = 5;
    public const int SSL_ERROR_ZERO_RETURN = 6;

    public const int TLS1_2_VERSION = 0x0303;

    /// <summary><c>SSL_MODE_ENABLE_PARTIAL_WRITE</c>: SSL_write returns after each record, so a writer gives the lock back between records.</summary>
    public const long SSL_MODE_ENABLE_PARTIAL_WRITE = 0x1;

    /// <summary><c>SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER</c>: a retried SSL_write may pass another address for the same bytes.</summary>
    public const long SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER = 0x2;

    /// <summary><c>SSL_OP_IGNORE_UNEXPECTED_EOF</c>: a peer that closes without close_notify reads as end of stream (the NBD framing above catches truncation).</summary>
    public const ulong SSL_OP_IGNORE_UNEXPECTED_EOF = 1UL << 7;

    private const int SSL_CTRL_MODE = 33;
    private const int SSL_CTRL_SET_MIN_PROTO_VERSION = 123;

    [LibraryImport(Ssl)]
    public static partial nint TLS_server_method();

    [LibraryImport(Ssl)]
    public static partial nint TLS_client_method();

    [LibraryImport(Ssl)]
    public static partial SslContextHandle SSL_CTX_new(nint method);

    [LibraryImport(Ssl)]
    public static partial void SSL_CTX_free(nint context);

    [LibraryImport(Ssl)]
    public static partial long SSL_CTX_ctrl(SslContextHandle context, int command, long larg, nint parg);

    [LibraryImport(Ssl)]
    public static partial ulong SSL_CTX_set_options(SslContextHandle context, ulong options);

    [LibraryImport(Ssl, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SSL_CTX_set_cipher_list(SslContextHandle context, string ciphers);

    [LibraryImport(Ssl, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SSL_CTX_set_ciphersuites(SslContextHandle context, string suites);

    [LibraryImport(Ssl)]
    public static partial int SSL_CTX_set_num_tickets(SslContextHandle context, nuint tickets);

    /// <summary>The server's PSK look-up: <c>(SSL*, identity, psk out, max psk length) → psk length, 0 = unknown identity</c>. Used for TLS 1.2 and, with a SHA-256 suite, for TLS 1.3.</summary>
    [LibraryImport(Ssl)]
    public static partial void SSL_CTX_set_psk_server_callback(SslContextHandle context, delegate* unmanaged<nint, byte*, byte*, uint, uint> callback);

    /// <summary>The client's PSK choice: <c>(SSL*, hint, identity out, max identity length, psk out, max psk length) → psk length, 0 = abort</c>.</summary>
    [LibraryImport(Ssl)]
    public static partial void SSL_CTX_set_psk_client_callback(SslContextHandle context, delegate* unmanaged<nint, byte*, byte*, uint, byte*, uint, uint> callback);

    [LibraryImport(Ssl)]
    public static partial SslHandle SSL_new(SslContextHandle context);

    [LibraryImport(Ssl)]
    public static partial void SSL_free(nint ssl);

    [LibraryImport(Ssl)]
    public static partial int SSL_set_fd(SslHandle ssl, int fd);

    [LibraryImport(Ssl)]
    public static partial int SSL_set_ex_data(SslHandle ssl, int index, nint data);

    /// <summary>Takes the raw pointer: it is called from inside OpenSSL's callbacks, which get no handle.</summary>
    [LibraryImport(Ssl)]
    public static partial nint SSL_get_ex_data(nint ssl, int index);

    [LibraryImport(Ssl)]
    public static partial int SSL_accept(SslHandle ssl);

    [LibraryImport(Ssl)]
    public static partial int SSL_connect(SslHandle ssl);

    [LibraryImport(Ssl)]
    public static partial int SSL_read(SslHandle ssl, byte* buffer, int length);

    [LibraryImport(Ssl)]
    public static partial int SSL_write(SslHandle ssl, byte* buffer, int length);

    [LibraryImport(Ssl)]
    public static partial int SSL_shutdown(SslHandle ssl);

    [LibraryImport(Ssl)]
    public static partial int SSL_get_error(SslHandle ssl, int result);

    [LibraryImport(Ssl)]
    private static partial byte* SSL_get_version(SslHandle ssl);

    [LibraryImport(Ssl)]
    private static partial nint SSL_get_current_cipher(SslHandle ssl);

    [LibraryImport(Ssl)]
    private static partial byte* SSL_CIPHER_get_name(nint cipher);

    [LibraryImport(Crypto)]
    public static partial void ERR_clear_error();

    [LibraryImport(Crypto)]
    private static partial ulong ERR_get_error();

    [LibraryImport(Crypto)]
    private static partial byte* ERR_reason_error_string(ulong error);

    /// <summary><c>SSL_CTX_set_mode</c>.</summary>
    public static void SetMode(SslContextHandle context, long mode) => SSL_CTX_ctrl(context, SSL_CTRL_MODE, mode, 0);

    /// <summary><c>SSL_CTX_set_min_proto_version</c>; false if OpenSSL refused the version.</summary>
    public static bool SetMinimumProtocol(SslContextHandle context, int version) =>
        SSL_CTX_ctrl(context, SSL_CTRL_SET_MIN_PROTO_VERSION, version, 0) == 1;

    /// <summary>The negotiated protocol (<c>TLSv1.3</c>).</summary>
    public static string Version(SslHandle ssl) => Utf8(SSL_get_version(ssl)) ?? "unknown";

    /// <summary>The negotiated cipher suite (<c>TLS_AES_128_GCM_SHA256</c>), or null before the handshake.</summary>
    public static string? CipherName(SslHandle ssl)
    {
        var cipher = SSL_get_current_cipher(ssl);
        return cipher == 0 ? null : Utf8(SSL_CIPHER_get_name(cipher));
    }

    /// <summary>
    /// Empties this thread's OpenSSL error queue and returns its reasons (<c>tlsv1 alert decrypt error</c>) joined by
    /// "; ", or null if it was empty. The queue is per thread, so this must run on the thread of the failed call.
    /// </summary>
    public static string? TakeErrors()
    {
        StringBuilder? text = null;
        for (var error = ERR_get_error(); error != 0; error = ERR_get_error())
        {
            var reason = Utf8(ERR_reason_error_string(error)) ?? $"error 0x{error:x}";
            text = text is null ? new StringBuilder(reason) : text.Append("; ").Append(reason);
        }

        return text?.ToString();
    }

    private static string? Utf8(byte* text) => text is null ? null : Marshal.PtrToStringUTF8((nint)text);
}
