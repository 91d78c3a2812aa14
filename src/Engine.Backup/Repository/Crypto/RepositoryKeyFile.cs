using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Engine.Backup.Repository.Crypto;

/// <summary>
/// A repository key file: JSON, mode 0600, versioned, holding the master key raw or wrapped under a passphrase, with
/// the key's id and creation time (docs/repository-format.md, "Encryption"). Wrapping is AES-256-GCM under a key
/// derived from the passphrase with PBKDF2-HMAC-SHA256 (<see cref="DefaultIterations"/>, 32-byte random salt); the
/// associated data binds the key id, so a wrapped key pasted into another file's id fails too.
/// PBKDF2 rather than scrypt: it is in the runtime (no package to trust, nothing more in the NativeAOT binary), FIPS
/// approved, and the iteration count is recorded per file, so a memory-hard KDF can come as a new <c>kdf</c> value.
/// </summary>
public sealed class RepositoryKeyFile
{
    /// <summary>The format version written and read.</summary>
    public const int FormatVersion = 1;

    /// <summary>PBKDF2 iterations for a new wrapped key (OWASP's figure for PBKDF2-HMAC-SHA256).</summary>
    public const int DefaultIterations = 600_000;

    /// <summary>The <c>kdf</c> of a raw key.</summary>
    public const string KdfNone = "none";

    /// <summary>The <c>kdf</c> of a passphrase-wrapped key.</summary>
    public const string KdfPbkdf2 = "pbkdf2-sha256";

    /// <summary>Fewer iterations than this in a file is refused: it would make the passphrase cheap to guess.</summary>
    private const int MinimumIterations = 100_000;

    /// <summary>More than this is refused too: a hostile file could otherwise stall the loader for hours.</summary>
    private const int MaximumIterations = 100_000_000;

    private const int SaltLength = 32;
    private const int WrappedLength = ObjectCipher.NonceLength + RepositoryKey.Length + ObjectCipher.TagLength;
    private const long MaximumFileLength = 64 << 10;

    private readonly KeyFileDocument _document;

    private RepositoryKeyFile(string path, KeyFileDocument document)
    {
        Path = path;
        _document = document;
    }

    /// <summary>The file.</summary>
    public string Path { get; }

    /// <summary>The key's id.</summary>
    public string Id => _document.Id!;

    /// <summary>When the key was made.</summary>
    public DateTimeOffset Created => _document.Created;

    /// <summary>Whether a passphrase protects the key.</summary>
    public bool IsWrapped => _document.Kdf == KdfPbkdf2;

    /// <summary>What the file says about its key, without unlocking it.</summary>
    public RepositoryKeyInfo Info => new(Path, Id, Created, IsWrapped, _document.Kdf!, _document.Iterations);

    /// <summary>
    /// Writes <paramref name="key"/> to a new file <paramref name="path"/> (mode 0600, never over an existing file):
    /// raw when <paramref name="passphrase"/> is empty, otherwise wrapped under it.
    /// </summary>
    /// <exception cref="KeyFileException">The file exists (<see cref="KeyFileProblem.Exists"/>).</exception>
    /// <exception cref="IOException">The file could not be written.</exception>
    public static RepositoryKeyFile Create(string path, RepositoryKey key, ReadOnlySpan<byte> passphrase, DateTimeOffset created, int iterations = DefaultIterations)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentOutOfRangeException.ThrowIfLessThan(iterations, MinimumIterations);
        created = new DateTimeOffset(created.UtcTicks - (created.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero);
        KeyFileDocument document;
        if (passphrase.IsEmpty)
        {
            document = new KeyFileDocument(FormatVersion, key.Id, created, KdfNone, Key: Convert.ToBase64String(key.Material));
        }
        else
        {
            Span<byte> salt = stackalloc byte[SaltLength];
            RandomNumberGenerator.Fill(salt);
            Span<byte> wrapped = stackalloc byte[WrappedLength];
            Wrap(key.Material, passphrase, salt, iterations, key.Id, wrapped);
            document = new KeyFileDocument(FormatVersion, key.Id, created, KdfPbkdf2, iterations, Convert.ToBase64String(salt), WrappedKey: Convert.ToBase64String(wrapped));
        }

        var json = JsonSerializer.SerializeToUtf8Bytes(document, CryptoJsonContext.Default.KeyFileDocument);
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                // 0600 from the start: there is no moment at which another user could open it.
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            using var file = new FileStream(path, options);
            file.Write(json);
            file.Write("\n"u8);
            file.Flush(flushToDisk: true);
        }
        catch (IOException e) when (File.Exists(path) && e is not DirectoryNotFoundException)
        {
            throw new KeyFileException(path, KeyFileProblem.Exists, $"{path}: exists; a key file is never overwritten", e);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(json);
        }

        return new RepositoryKeyFile(path, document);
    }

    /// <summary>Reads and checks the file's shape; the key stays locked until <see cref="Unlock"/>.</summary>
    /// <exception cref="KeyFileException">Missing (<see cref="KeyFileProblem.Missing"/>) or not a key file (<see cref="KeyFileProblem.Damaged"/>).</exception>
    public static RepositoryKeyFile Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] bytes;
        try
        {
            if (new FileInfo(path) is { Exists: true, Length: > MaximumFileLength } big)
            {
                throw KeyFileException.Damaged(path, $"{big.Length} bytes; a key file has less than {MaximumFileLength}");
            }

            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new KeyFileException(path, KeyFileProblem.Missing, $"{path}: no such key file", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new KeyFileException(path, KeyFileProblem.Missing, $"{path}: cannot read the key file: permission denied", e);
        }

        KeyFileDocument? document;
        try
        {
            document = JsonSerializer.Deserialize(bytes, CryptoJsonContext.Default.KeyFileDocument);
        }
        catch (JsonException e)
        {
            throw KeyFileException.Damaged(path, "not a JSON key file" + (e.LineNumber is { } line ? $" (line {line + 1})" : ""), e);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
        }

        Check(path, document);
        return new RepositoryKeyFile(path, document!);
    }

    /// <summary>Reads <paramref name="path"/> and unlocks its key with the passphrase in <paramref name="passphraseFile"/> (null: none).</summary>
    public static RepositoryKey Load(string path, string? passphraseFile)
    {
        var file = Read(path);
        var passphrase = passphraseFile is null ? [] : Passphrase.ReadFile(passphraseFile);
        try
        {
            return file.Unlock(passphrase);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(passphrase);
        }
    }

    /// <summary>The master key; <paramref name="passphrase"/> is ignored for a raw key.</summary>
    /// <exception cref="KeyFileException">Wrong or missing passphrase, or a key that does not match the file's id.</exception>
    public RepositoryKey Unlock(ReadOnlySpan<byte> passphrase)
    {
        Span<byte> key = stackalloc byte[RepositoryKey.Length];
        try
        {
            if (!IsWrapped)
            {
                // Straight into the stack span: a decoded heap array would keep the master key until the GC reuses it.
                if (!Convert.TryFromBase64String(_document.Key!, key, out var written) || written != key.Length)
                {
                    throw KeyFileException.Damaged(Path, $"the key is not {RepositoryKey.Length} bytes of base64");
                }
            }
            else if (passphrase.IsEmpty)
            {
                throw new KeyFileException(Path, KeyFileProblem.PassphraseRequired,
                    $"key {Path} is protected by a passphrase: give --passphrase-file or set {Passphrase.FileVariable}");
            }
            else if (!Unwrap(Convert.FromBase64String(_document.WrappedKey!), passphrase, Convert.FromBase64String(_document.Salt!), _document.Iterations!.Value, Id, key))
            {
                throw new KeyFileException(Path, KeyFileProblem.WrongPassphrase, $"wrong passphrase for key {Path}");
            }

            var unlocked = RepositoryKey.FromBytes(key);
            if (unlocked.Id != Id)
            {
                unlocked.Dispose();
                throw KeyFileException.Damaged(Path, $"the key does not match the file's id {Id}");
            }

            return unlocked;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    private static void Check(string path, KeyFileDocument? document)
    {
        if (document is null)
        {
            throw KeyFileException.Damaged(path, "empty");
        }

        if (document.Version != FormatVersion)
        {
            throw KeyFileException.Damaged(path, $"format version {document.Version}; this engine reads version {FormatVersion}");
        }

        if (document.Id is null || document.Id.Length != 32 || !document.Id.All(char.IsAsciiHexDigitLower))
        {
            throw KeyFileException.Damaged(path, "no key id (32 hex digits)");
        }

        switch (document.Kdf)
        {
            case KdfNone:
                if (document.WrappedKey is not null || !IsBase64Of(document.Key, RepositoryKey.Length))
                {
                    throw KeyFileException.Damaged(path, $"kdf '{KdfNone}' needs 'key', {RepositoryKey.Length} bytes in base64");
                }

                break;
            case KdfPbkdf2:
                if (document.Key is not null || !IsBase64Of(document.WrappedKey, WrappedLength) || !IsBase64Of(document.Salt, SaltLength))
                {
                    throw KeyFileException.Damaged(path, $"kdf '{KdfPbkdf2}' needs 'wrappedKey' ({WrappedLength} bytes) and 'salt' ({SaltLength} bytes) in base64");
                }

                if (document.Iterations is not (>= MinimumIterations and <= MaximumIterations))
                {
                    throw KeyFileException.Damaged(path, $"iterations {document.Iterations?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "missing"}; between {MinimumIterations} and {MaximumIterations} expected");
                }

                break;
            default:
                throw KeyFileException.Damaged(path, $"unknown kdf '{document.Kdf}' ('{KdfNone}' or '{KdfPbkdf2}' expected)");
        }
    }

    private static bool IsBase64Of(string? text, int length)
    {
        Span<byte> buffer = stackalloc byte[length + 3];
        return text is not null && Convert.TryFromBase64String(text, buffer, out var written) && written == length;
    }

    private static void Wrap(ReadOnlySpan<byte> key, ReadOnlySpan<byte> passphrase, ReadOnlySpan<byte> salt, int iterations, string id, Span<byte> wrapped)
    {
        Span<byte> kek = stackalloc byte[32];
        Rfc2898DeriveBytes.Pbkdf2(passphrase, salt, kek, iterations, HashAlgorithmName.SHA256);
        try
        {
            using var aes = new AesGcm(kek, ObjectCipher.TagLength);
            var nonce = wrapped[..ObjectCipher.NonceLength];
            RandomNumberGenerator.Fill(nonce);
            aes.Encrypt(nonce, key, wrapped.Slice(ObjectCipher.NonceLength, RepositoryKey.Length), wrapped[^ObjectCipher.TagLength..], AssociatedData(id));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(kek);
        }
    }

    private static bool Unwrap(ReadOnlySpan<byte> wrapped, ReadOnlySpan<byte> passphrase, ReadOnlySpan<byte> salt, int iterations, string id, Span<byte> key)
    {
        Span<byte> kek = stackalloc byte[32];
        Rfc2898DeriveBytes.Pbkdf2(passphrase, salt, kek, iterations, HashAlgorithmName.SHA256);
        try
        {
            using var aes = new AesGcm(kek, ObjectCipher.TagLength);
            aes.Decrypt(wrapped[..ObjectCipher.NonceLength], wrapped.Slice(ObjectCipher.NonceLength, RepositoryKey.Length), wrapped[^ObjectCipher.TagLength..], key, AssociatedData(id));
            return true;
        }
        catch (AuthenticationTagMismatchException)
        {
            return false;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(kek);
        }
    }

    private static byte[] AssociatedData(string id) => Encoding.ASCII.GetBytes("engine key file v1 " + id);
}
