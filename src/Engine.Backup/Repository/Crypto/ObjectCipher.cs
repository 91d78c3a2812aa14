using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Engine.Backup.Repository.Crypto;

/// <summary>
/// Seals and opens one stored object with AES-256-GCM. A sealed object is
/// <c>header (4: 'E' 'O' version=1 algorithm=1) ‖ nonce (12, random) ‖ ciphertext ‖ tag (16)</c>, 32 bytes more than
/// the plaintext. The associated data is the header and the object's key (<c>chunks/ab/abcd…</c>), so a header edit,
/// or an object's bytes copied over another's, fails to authenticate like any flipped bit.
/// Random 96-bit nonces are safe for 2^32 objects per key (NIST SP 800-38D); at 4 MiB chunks that is 16 PiB.
/// Thread-safe: each thread keeps its own <see cref="AesGcm"/>, so a seal or open allocates nothing once the thread
/// has one (only an object key longer than 512 UTF-8 bytes rents a buffer for the associated data).
/// </summary>
public sealed class ObjectCipher : IDisposable
{
    /// <summary>Bytes of the versioned header.</summary>
    public const int HeaderLength = 4;

    /// <summary>Bytes of the random nonce.</summary>
    public const int NonceLength = 12;

    /// <summary>Bytes of the GCM tag.</summary>
    public const int TagLength = 16;

    /// <summary>Bytes a sealed object has beyond its plaintext.</summary>
    public const int Overhead = HeaderLength + NonceLength + TagLength;

    private const byte Magic0 = (byte)'E';
    private const byte Magic1 = (byte)'O';
    private const byte Version = 1;
    private const byte AlgorithmAes256Gcm = 1;
    private const int StackAssociatedData = 512;

    private readonly byte[] _key;
    private readonly ThreadLocal<AesGcm> _aes;

    /// <summary>A cipher under the 32-byte content key <paramref name="key"/> (see <see cref="RepositoryKey.CreateObjectCipher"/>).</summary>
    public ObjectCipher(ReadOnlySpan<byte> key)
    {
        if (key.Length != 32)
        {
            throw new ArgumentException($"an AES-256 key has 32 bytes, got {key.Length}", nameof(key));
        }

        _key = key.ToArray();
        _aes = new ThreadLocal<AesGcm>(() => new AesGcm(_key, TagLength), trackAllValues: true);
    }

    /// <summary>The sealed length of a <paramref name="plaintextLength"/>-byte object.</summary>
    public static int SealedLength(int plaintextLength) => checked(plaintextLength + Overhead);

    /// <summary>The plaintext length of a <paramref name="sealedLength"/>-byte sealed object; negative when it is too short to be one.</summary>
    public static long PlaintextLength(long sealedLength) => sealedLength - Overhead;

    /// <summary>
    /// Seals <paramref name="plaintext"/> as the object <paramref name="objectKey"/> into the first
    /// <see cref="SealedLength"/> bytes of <paramref name="destination"/>.
    /// </summary>
    public void Seal(ReadOnlySpan<byte> plaintext, string objectKey, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(objectKey);
        var length = SealedLength(plaintext.Length);
        if (destination.Length < length)
        {
            throw new ArgumentException($"a sealed object of {plaintext.Length} bytes needs {length} bytes, got {destination.Length}", nameof(destination));
        }

        var header = destination[..HeaderLength];
        header[0] = Magic0;
        header[1] = Magic1;
        header[2] = Version;
        header[3] = AlgorithmAes256Gcm;
        var nonce = destination.Slice(HeaderLength, NonceLength);
        RandomNumberGenerator.Fill(nonce);
        var ciphertext = destination.Slice(HeaderLength + NonceLength, plaintext.Length);
        var tag = destination.Slice(HeaderLength + NonceLength + plaintext.Length, TagLength);
        Span<byte> stack = stackalloc byte[StackAssociatedData];
        var associatedData = AssociatedData(header, objectKey, stack, out var rented);
        try
        {
            Aes.Encrypt(nonce, plaintext, ciphertext, tag, associatedData);
        }
        finally
        {
            Return(rented);
        }
    }

    /// <summary>
    /// Opens the sealed object <paramref name="objectKey"/> into the first <see cref="PlaintextLength"/> bytes of
    /// <paramref name="destination"/>; <paramref name="path"/> (the store's location and the key) names it in errors.
    /// </summary>
    /// <exception cref="ObjectAuthenticationException">Tampered, moved, truncated, not sealed, or sealed under another key.</exception>
    public void Open(ReadOnlySpan<byte> sealedObject, string objectKey, Span<byte> destination, string path)
    {
        ArgumentNullException.ThrowIfNull(objectKey);
        var plaintextLength = PlaintextLength(sealedObject.Length);
        if (plaintextLength < 0)
        {
            throw new ObjectAuthenticationException(path, $"{sealedObject.Length} bytes is too short for an encrypted object ({Overhead} bytes at least): truncated, or not encrypted");
        }

        if (destination.Length < plaintextLength)
        {
            throw new ArgumentException($"the object's {plaintextLength} bytes do not fit into {destination.Length}", nameof(destination));
        }

        var header = sealedObject[..HeaderLength];
        if (header[0] != Magic0 || header[1] != Magic1)
        {
            throw new ObjectAuthenticationException(path, $"no encryption header (0x{BinaryPrimitives.ReadUInt16BigEndian(header):x4}): tampered, or not encrypted");
        }

        if (header[2] != Version || header[3] != AlgorithmAes256Gcm)
        {
            throw new ObjectAuthenticationException(path, $"encryption format version {header[2]}, algorithm {header[3]}: tampered, or written by a newer engine (this one reads version {Version}, algorithm {AlgorithmAes256Gcm})");
        }

        Span<byte> stack = stackalloc byte[StackAssociatedData];
        var associatedData = AssociatedData(header, objectKey, stack, out var rented);
        try
        {
            Aes.Decrypt(
                sealedObject.Slice(HeaderLength, NonceLength),
                sealedObject.Slice(HeaderLength + NonceLength, (int)plaintextLength),
                sealedObject[^TagLength..],
                destination[..(int)plaintextLength],
                associatedData);
        }
        catch (AuthenticationTagMismatchException e)
        {
            throw new ObjectAuthenticationException(path, ObjectAuthenticationException.DoesNotAuthenticate, e);
        }
        finally
        {
            Return(rented);
        }
    }

    /// <summary>Disposes every thread's AES-GCM instance and wipes the key.</summary>
    public void Dispose()
    {
        foreach (var aes in _aes.Values)
        {
            aes.Dispose();
        }

        _aes.Dispose();
        CryptographicOperations.ZeroMemory(_key);
    }

    private AesGcm Aes => _aes.Value!;

    /// <summary>Header ‖ UTF-8 object key, in <paramref name="stack"/> when it fits, else in a rented array.</summary>
    private static ReadOnlySpan<byte> AssociatedData(ReadOnlySpan<byte> header, string objectKey, Span<byte> stack, out byte[]? rented)
    {
        var length = HeaderLength + Encoding.UTF8.GetByteCount(objectKey);
        rented = null;
        var buffer = length <= stack.Length ? stack : (rented = ArrayPool<byte>.Shared.Rent(length));
        header.CopyTo(buffer);
        Encoding.UTF8.GetBytes(objectKey, buffer[HeaderLength..]);
        return buffer[..length];
    }

    private static void Return(byte[]? rented)
    {
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }
}
