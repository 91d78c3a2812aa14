using System.Buffers;
using System.Runtime.CompilerServices;
using Engine.Backup.Repository.Crypto;

namespace Engine.Backup.Repository.Storage;

/// <summary>
/// Seals every object with <see cref="ObjectCipher"/> on its way into the store and opens it on its way out, so the
/// store (a bucket's owner, whoever steals its credentials) sees only ciphertext and its lengths. The
/// <see cref="ObjectKind.Config"/> object passes through unencrypted: it names the key id and tells a client without
/// the key that the repository is encrypted. Lengths (<see cref="StatAsync"/>, <see cref="ListAsync"/>) are the
/// plaintext's. A sealed object can only be authenticated whole, so a ranged load reads and opens the whole object
/// and copies the range out: objects are chunks (at most <see cref="MaximumObjectLength"/>) and small documents.
/// Object names are not changed here (docs/repository-format.md, "Encryption", says what they show).
/// </summary>
public sealed class EncryptingObjectStore : IObjectStore
{
    /// <summary>The largest plaintext object this decorator stores or loads (a chunk is at most this).</summary>
    public const int MaximumObjectLength = 32 << 20;

    private readonly IObjectStore _inner;
    private readonly ObjectCipher _cipher;

    /// <summary>Encrypts the objects of <paramref name="inner"/> (owned: disposed with this) with <paramref name="cipher"/> (not owned).</summary>
    public EncryptingObjectStore(IObjectStore inner, ObjectCipher cipher)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(cipher);
        _inner = inner;
        _cipher = cipher;
    }

    /// <inheritdoc />
    public string Location => _inner.Location;

    /// <inheritdoc />
    public ObjectStoreCapabilities Capabilities => _inner.Capabilities;

    /// <inheritdoc />
    public async ValueTask<SaveOutcome> SaveAsync(ObjectName name, ReadOnlyMemory<byte> content, SaveOptions options, CancellationToken cancellationToken)
    {
        if (!IsSealed(name))
        {
            return await _inner.SaveAsync(name, content, options, cancellationToken).ConfigureAwait(false);
        }

        if (content.Length > MaximumObjectLength)
        {
            throw new ObjectStoreException(Location, name.Key, $"{content.Length} bytes; an encrypted object holds at most {MaximumObjectLength}");
        }

        var length = ObjectCipher.SealedLength(content.Length);
        var buffer = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            _cipher.Seal(content.Span, name.Key, buffer);
            return await _inner.SaveAsync(name, buffer.AsMemory(0, length), options, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <inheritdoc />
    /// <exception cref="ObjectAuthenticationException">The object was tampered with, moved, or sealed under another key.</exception>
    public async ValueTask<int> LoadAsync(ObjectName name, long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (!IsSealed(name))
        {
            return await _inner.LoadAsync(name, offset, destination, cancellationToken).ConfigureAwait(false);
        }

        var info = await _inner.StatAsync(name, cancellationToken).ConfigureAwait(false)
            ?? throw new ObjectNotFoundException(Location, name.Key);
        if (info.Length > ObjectCipher.SealedLength(MaximumObjectLength))
        {
            throw new ObjectAuthenticationException(PathOf(name), $"{info.Length} bytes; an encrypted object has at most {ObjectCipher.SealedLength(MaximumObjectLength)}: tampered, or not encrypted");
        }

        var sealedLength = (int)info.Length;
        var sealedBuffer = ArrayPool<byte>.Shared.Rent(Math.Max(sealedLength, 1));
        var plainBuffer = ArrayPool<byte>.Shared.Rent(Math.Max(sealedLength, 1));
        try
        {
            var read = await ReadWholeAsync(name, sealedBuffer.AsMemory(0, sealedLength), cancellationToken).ConfigureAwait(false);
            _cipher.Open(sealedBuffer.AsSpan(0, read), name.Key, plainBuffer, PathOf(name));
            var plaintextLength = (int)ObjectCipher.PlaintextLength(read);
            if (offset >= plaintextLength)
            {
                return 0;
            }

            var count = (int)Math.Min(destination.Length, plaintextLength - offset);
            plainBuffer.AsSpan((int)offset, count).CopyTo(destination.Span);
            return count;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(sealedBuffer);
            ArrayPool<byte>.Shared.Return(plainBuffer, clearArray: true);
        }
    }

    /// <inheritdoc />
    public async ValueTask<ObjectInfo?> StatAsync(ObjectName name, CancellationToken cancellationToken)
    {
        var info = await _inner.StatAsync(name, cancellationToken).ConfigureAwait(false);
        return info is null ? null : Plain(info);
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<ObjectInfo> ListAsync(ObjectKind kind, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var info in _inner.ListAsync(kind, cancellationToken).ConfigureAwait(false))
        {
            yield return Plain(info);
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> RemoveAsync(ObjectName name, CancellationToken cancellationToken) => _inner.RemoveAsync(name, cancellationToken);

    /// <inheritdoc />
    public ValueTask ExtendRetentionAsync(ObjectName name, DateTimeOffset retainUntil, ObjectLockMode mode, CancellationToken cancellationToken) =>
        _inner.ExtendRetentionAsync(name, retainUntil, mode, cancellationToken);

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _inner.DisposeAsync();

    /// <summary>Whether the object is stored sealed: all but the configuration.</summary>
    public static bool IsSealed(ObjectName name) => name.Kind != ObjectKind.Config;

    private static ObjectInfo Plain(ObjectInfo info) =>
        IsSealed(info.Name) ? info with { Length = Math.Max(0, ObjectCipher.PlaintextLength(info.Length)) } : info;

    private string PathOf(ObjectName name) => string.Concat(Location.TrimEnd('/'), "/", name.Key);

    /// <summary>Loads the whole stored object; fewer bytes than asked only when it shrank since the stat.</summary>
    private async ValueTask<int> ReadWholeAsync(ObjectName name, Memory<byte> destination, CancellationToken cancellationToken)
    {
        var total = 0;
        while (total < destination.Length)
        {
            var read = await _inner.LoadAsync(name, total, destination[total..], cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }

            total += read;
        }

        return total;
    }
}
