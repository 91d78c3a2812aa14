using System.Security.Cryptography;
using System.Text;

namespace Engine.Nbd.Transport.Tls.Psk;

/// <summary>
/// A file of pre-shared keys as <c>psktool</c> writes it and nbdkit, qemu and libnbd read it (through GnuTLS): one
/// <c>username:hexkey</c> per line. Blank lines are skipped; anything else that is not a name, a colon and an even
/// number of hex digits is refused with the file and line, as is a name given twice. Messages never show a key.
/// </summary>
public sealed class PskKeyFile : IDisposable
{
    /// <summary>OpenSSL's <c>PSK_MAX_IDENTITY_LEN</c> (the identity is sent NUL-terminated in a 256-byte buffer).</summary>
    internal const int MaxIdentityBytes = 255;

    /// <summary>OpenSSL's <c>PSK_MAX_PSK_LEN</c>.</summary>
    internal const int MaxKeyBytes = 512;

    private readonly Dictionary<string, byte[]> _keys;

    private PskKeyFile(string path, Dictionary<string, byte[]> keys)
    {
        Path = path;
        _keys = keys;
    }

    /// <summary>The file the keys came from, as given.</summary>
    public string Path { get; }

    /// <summary>The user names the file holds, in no particular order.</summary>
    public IReadOnlyCollection<string> Users => _keys.Keys;

    /// <summary>Reads and checks <paramref name="path"/>.</summary>
    /// <exception cref="NbdTlsException">The file cannot be read, holds no key, or a line is malformed (the message names file and line).</exception>
    public static PskKeyFile Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new NbdTlsException($"cannot read PSK key file {path}: {Reason(e)}", e);
        }

        try
        {
            return Parse(path, bytes);
        }
        finally
        {
            // The raw text holds every key in hex.
            CryptographicOperations.ZeroMemory(bytes);
        }
    }

    /// <summary>Parses the content of a key file; <paramref name="path"/> is only for messages.</summary>
    internal static PskKeyFile Parse(string path, ReadOnlySpan<byte> content)
    {
        var keys = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var lineNumber = 0;
        while (!content.IsEmpty)
        {
            lineNumber++;
            var end = content.IndexOf((byte)'\n');
            var line = end < 0 ? content : content[..end];
            content = end < 0 ? default : content[(end + 1)..];
            if (!line.IsEmpty && line[^1] == '\r')
            {
                line = line[..^1];
            }

            if (line.IsEmpty)
            {
                continue;
            }

            var colon = line.IndexOf((byte)':');
            if (colon < 0)
            {
                throw Bad(path, lineNumber, "expected username:hexkey (no ':' found)");
            }

            if (colon == 0)
            {
                throw Bad(path, lineNumber, "the username is empty");
            }

            if (colon > MaxIdentityBytes)
            {
                throw Bad(path, lineNumber, $"the username is longer than {MaxIdentityBytes} bytes");
            }

            string user;
            try
            {
                user = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(line[..colon]);
            }
            catch (DecoderFallbackException)
            {
                throw Bad(path, lineNumber, "the username is not valid UTF-8");
            }

            var key = DecodeKey(path, lineNumber, user, line[(colon + 1)..]);
            if (!keys.TryAdd(user, key))
            {
                throw Bad(path, lineNumber, $"username '{user}' appears twice");
            }
        }

        return keys.Count == 0
            ? throw new NbdTlsException($"PSK key file {path} holds no key (expected username:hexkey lines, as psktool writes)")
            : new PskKeyFile(path, keys);
    }

    /// <summary>Overwrites every key with zeros: keys are secrets, and a dead array keeps its bytes until the GC reuses it.</summary>
    public void Dispose()
    {
        foreach (var key in _keys.Values)
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(key);
        }

        _keys.Clear();
    }

    /// <summary>The key of <paramref name="user"/>, if the file has one. The array is the file's own: do not change it.</summary>
    internal bool TryGetKey(string user, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out byte[]? key) => _keys.TryGetValue(user, out key);

    private static byte[] DecodeKey(string path, int lineNumber, string user, ReadOnlySpan<byte> hex)
    {
        if (hex.IsEmpty)
        {
            throw Bad(path, lineNumber, $"the key of '{user}' is empty");
        }

        if (hex.Length % 2 != 0)
        {
            throw Bad(path, lineNumber, $"the key of '{user}' has an odd number of hex digits");
        }

        if (hex.Length / 2 > MaxKeyBytes)
        {
            throw Bad(path, lineNumber, $"the key of '{user}' is longer than {MaxKeyBytes} bytes");
        }

        var key = new byte[hex.Length / 2];
        for (var i = 0; i < key.Length; i++)
        {
            var high = HexValue(hex[2 * i]);
            var low = HexValue(hex[(2 * i) + 1]);
            if (high < 0 || low < 0)
            {
                CryptographicOperations.ZeroMemory(key);
                // The position only: the digit itself is part of the secret.
                throw Bad(path, lineNumber, $"the key of '{user}' is not hex (bad digit at column {colonColumn(user) + (2 * i) + (high < 0 ? 1 : 2)})");
            }

            key[i] = (byte)((high << 4) | low);
        }

        return key;

        static int colonColumn(string user) => Encoding.UTF8.GetByteCount(user) + 1;
    }

    private static int HexValue(byte c) => c switch
    {
        >= (byte)'0' and <= (byte)'9' => c - '0',
        >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
        _ => -1,
    };

    private static NbdTlsException Bad(string path, int line, string what) => new($"{path}:{line}: {what}");

    private static string Reason(Exception e) => e switch
    {
        FileNotFoundException or DirectoryNotFoundException => "no such file",
        UnauthorizedAccessException => "permission denied",
        _ => "I/O error",
    };
}
