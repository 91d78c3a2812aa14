using System.Net;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Amazon.S3;
using Amazon.S3.Model;
using Engine.Backup.Repository.Storage;
using Microsoft.IO;
using ObjectLockMode = Engine.Backup.Repository.Storage.ObjectLockMode;

namespace Engine.Backup.S3;

/// <summary>
/// The repository's objects in an S3 bucket (any S3-compatible store; tested against Ceph radosgw). Each object is one
/// S3 object at <c>PREFIX/</c> + <see cref="ObjectName.Key"/>. A save is durable when the PUT is answered 200;
/// <see cref="SaveOptions.IfAbsent"/> is <c>If-None-Match: *</c> (412 means the object exists); radosgw (Ceph 16)
/// ignores that header on a versioned bucket, and so on every Object Lock bucket, where the store asks with a HEAD
/// first and does not claim <see cref="ObjectStoreCapabilities.AtomicIfAbsent"/>: two writers of one content-addressed
/// chunk may then both store it, as two identical versions, which costs space and nothing else. On a bucket with Object
/// Lock the store deletes object versions, not just their names: S3's plain DELETE on a versioned bucket only adds a
/// delete marker and leaves the data (and its retention) in place, which would let garbage collection believe it had
/// freed what it had not.
/// </summary>
public sealed class S3ObjectStore : IObjectStore
{
    // Request bodies the SDK must read as a Stream: pooled blocks instead of a fresh array per upload, for content that
    // is not already an array the stream can wrap.
    private static readonly RecyclableMemoryStreamManager BodyStreams = new();

    private readonly AmazonS3Client _client;
    private readonly S3RepositoryLocation _location;
    private readonly S3StoreOptions _options;
    private int _disposed;

    private S3ObjectStore(AmazonS3Client client, S3RepositoryLocation location, S3StoreOptions options, S3BucketState bucket)
    {
        _client = client;
        _location = location;
        _options = options;
        Location = location.ToString();
        Capabilities = (bucket.Versioned ? ObjectStoreCapabilities.None : ObjectStoreCapabilities.AtomicIfAbsent)
            | (bucket.ObjectLock ? ObjectStoreCapabilities.ObjectLock : ObjectStoreCapabilities.None);
    }

    /// <inheritdoc/>
    public string Location { get; }

    /// <inheritdoc/>
    public ObjectStoreCapabilities Capabilities { get; }

    /// <summary>The bucket and prefix.</summary>
    public S3RepositoryLocation Repository => _location;

    /// <summary>
    /// Opens the store at <paramref name="location"/>: checks that the bucket exists and can be reached, and asks once
    /// whether it has Object Lock (<see cref="ObjectStoreCapabilities.ObjectLock"/>).
    /// </summary>
    /// <exception cref="ObjectStoreException">No such bucket, access denied, or the endpoint cannot be reached (transient).</exception>
    public static async Task<S3ObjectStore> OpenAsync(S3RepositoryLocation location, S3StoreOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(location);
        ArgumentNullException.ThrowIfNull(options);
        var client = S3ClientFactory.Create(options);
        try
        {
            var bucket = await S3BucketSetup.QueryAsync(client, location, options, cancellationToken).ConfigureAwait(false);
            if (!bucket.Exists)
            {
                throw new ObjectStoreException(location.ToString(), "", $"bucket {location.Bucket} does not exist at {options.EndpointText} (engine init creates it)");
            }

            return new S3ObjectStore(client, location, options, bucket);
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>Wraps a client whose bucket the caller has already checked (<see cref="S3Repository"/>).</summary>
    internal static S3ObjectStore Wrap(AmazonS3Client client, S3RepositoryLocation location, S3StoreOptions options, S3BucketState bucket) =>
        new(client, location, options, bucket);

    /// <inheritdoc/>
    public async ValueTask<SaveOutcome> SaveAsync(ObjectName name, ReadOnlyMemory<byte> content, SaveOptions options, CancellationToken cancellationToken)
    {
        var key = name.Key;
        if (options.IfAbsent && (Capabilities & ObjectStoreCapabilities.AtomicIfAbsent) == 0
            && await HeadAsync(key, cancellationToken).ConfigureAwait(false) is not null)
        {
            return SaveOutcome.AlreadyExists;
        }

        var request = new PutObjectRequest
        {
            BucketName = _location.Bucket,
            Key = _location.KeyOf(key),
            InputStream = BodyOf(content),
            AutoCloseStream = true,
            // A plain signed body: streaming (aws-chunked) signatures add framing every gateway must parse, for bodies
            // that are in memory anyway.
            UseChunkEncoding = false,
        };
        if (options.IfAbsent)
        {
            request.IfNoneMatch = "*";
        }

        if (options.RetainUntil is { } until)
        {
            if ((Capabilities & ObjectStoreCapabilities.ObjectLock) == 0)
            {
                throw new NotSupportedException($"{Location}/{key}: bucket {_location.Bucket} has no Object Lock, so objects cannot be retained");
            }

            request.ObjectLockMode = ToSdk(options.LockMode);
            request.ObjectLockRetainUntilDate = until.UtcDateTime;
            // S3 requires an integrity header on a PUT with Object Lock parameters; the SDK adds none when checksums
            // are only sent where required (S3ClientFactory), and Content-MD5 is the one every gateway knows.
#pragma warning disable CA5351 // MD5 is what the header is defined as, not a security measure.
            request.MD5Digest = Convert.ToBase64String(MD5.HashData(content.Span));
#pragma warning restore CA5351
        }

        try
        {
            await _client.PutObjectAsync(request, cancellationToken).ConfigureAwait(false);
            return SaveOutcome.Written;
        }
        catch (Exception e) when (options.IfAbsent && S3Errors.Status(e) == HttpStatusCode.PreconditionFailed)
        {
            return SaveOutcome.AlreadyExists;
        }
        catch (Exception e) when (S3Errors.IsMappable(e, cancellationToken))
        {
            throw S3Errors.Map(e, _location, _options, key);
        }
    }

    /// <inheritdoc/>
    public async ValueTask<int> LoadAsync(ObjectName name, long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        var key = name.Key;
        if (destination.Length == 0)
        {
            return await StatAsync(name, cancellationToken).ConfigureAwait(false) is null
                ? throw new ObjectNotFoundException(Location, key)
                : 0;
        }

        var request = new GetObjectRequest
        {
            BucketName = _location.Bucket,
            Key = _location.KeyOf(key),
            ByteRange = new ByteRange(offset, offset + destination.Length - 1),
        };
        try
        {
            using var response = await _client.GetObjectAsync(request, cancellationToken).ConfigureAwait(false);
            var stream = response.ResponseStream;
            if (offset > 0 && response.HttpStatusCode != HttpStatusCode.PartialContent)
            {
                // A gateway that ignores Range answers 200 with the object from its first byte: returning that would
                // hand out bytes of the wrong offset. Skip to the offset instead (slow, but never wrong).
                await SkipAsync(stream, offset, cancellationToken).ConfigureAwait(false);
            }

            var total = 0;
            while (total < destination.Length)
            {
                var read = await stream.ReadAsync(destination[total..], cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                total += read;
            }

            return total;
        }
        catch (Exception e) when (S3Errors.Status(e) == HttpStatusCode.RequestedRangeNotSatisfiable)
        {
            // The offset is at or past the end (or the object is empty).
            return 0;
        }
        catch (Exception e) when (S3Errors.Status(e) == HttpStatusCode.NotFound && S3Errors.ErrorCode(e) != "NoSuchBucket")
        {
            throw new ObjectNotFoundException(Location, key, e);
        }
        catch (Exception e) when (S3Errors.IsMappable(e, cancellationToken))
        {
            throw S3Errors.Map(e, _location, _options, key);
        }
    }

    /// <inheritdoc/>
    public async ValueTask<ObjectInfo?> StatAsync(ObjectName name, CancellationToken cancellationToken)
    {
        var head = await HeadAsync(name.Key, cancellationToken).ConfigureAwait(false);
        return head is null ? null : new ObjectInfo(name, head.ContentLength, ToOffset(head.LastModified));
    }

    /// <inheritdoc/>
    public async IAsyncEnumerable<ObjectInfo> ListAsync(ObjectKind kind, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (kind == ObjectKind.Config)
        {
            // The one config object sits beside the folders: a listing of the prefix would page through them all.
            if (await StatAsync(ObjectName.Config, cancellationToken).ConfigureAwait(false) is { } config)
            {
                yield return config;
            }

            yield break;
        }

        var folder = ObjectName.FolderOf(kind);
        var request = new ListObjectsV2Request { BucketName = _location.Bucket, Prefix = _location.FolderPrefix(folder) };
        var strip = _location.Prefix.Length == 0 ? 0 : _location.Prefix.Length + 1;
        while (true)
        {
            ListObjectsV2Response page;
            try
            {
                page = await _client.ListObjectsV2Async(request, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (S3Errors.IsMappable(e, cancellationToken))
            {
                throw S3Errors.Map(e, _location, _options, folder + "/");
            }

            foreach (var item in page.S3Objects ?? [])
            {
                if (item.Key.Length > strip && ObjectName.TryParseKey(kind, item.Key[strip..], out var name))
                {
                    yield return new ObjectInfo(name, item.Size ?? 0, ToOffset(item.LastModified));
                }
            }

            if (page.IsTruncated != true || string.IsNullOrEmpty(page.NextContinuationToken))
            {
                yield break;
            }

            request.ContinuationToken = page.NextContinuationToken;
        }
    }

    /// <inheritdoc/>
    public async ValueTask<bool> RemoveAsync(ObjectName name, CancellationToken cancellationToken)
    {
        var key = name.Key;
        // S3's DELETE answers 204 whether or not the object existed; the HEAD tells, and gives the retention to report.
        var head = await HeadAsync(key, cancellationToken).ConfigureAwait(false);
        if (head is null)
        {
            return false;
        }

        var locked = (Capabilities & ObjectStoreCapabilities.ObjectLock) != 0;
        try
        {
            if (!locked)
            {
                await _client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = _location.Bucket, Key = _location.KeyOf(key) }, cancellationToken)
                    .ConfigureAwait(false);
                return true;
            }

            // A versioned (Object Lock) bucket: a plain DELETE only adds a marker and keeps the data, and deleting the
            // current version alone makes an older one (a retried PUT, the HEAD-then-PUT race) current again. So every
            // version of exactly this key goes; the gateway refuses each that is still retained.
            foreach (var versionId in await VersionsOfAsync(key, cancellationToken).ConfigureAwait(false))
            {
                await _client.DeleteObjectAsync(
                    new DeleteObjectRequest { BucketName = _location.Bucket, Key = _location.KeyOf(key), VersionId = versionId }, cancellationToken)
                    .ConfigureAwait(false);
            }

            return true;
        }
        catch (Exception e) when (locked && S3Errors.Status(e) == HttpStatusCode.Forbidden && S3Errors.ErrorCode(e) == "AccessDenied")
        {
            throw new ObjectLockedException(Location, key, head.ObjectLockRetainUntilDate is { } until ? ToOffset(until) : null, e);
        }
        catch (Exception e) when (S3Errors.IsMappable(e, cancellationToken))
        {
            throw S3Errors.Map(e, _location, _options, key);
        }
    }

    /// <summary>The version ids (delete markers included) of exactly <paramref name="key"/>, not of keys it prefixes.</summary>
    private async Task<List<string>> VersionsOfAsync(string key, CancellationToken cancellationToken)
    {
        var fullKey = _location.KeyOf(key);
        var versions = new List<string>();
        var request = new ListVersionsRequest { BucketName = _location.Bucket, Prefix = fullKey };
        while (true)
        {
            var page = await _client.ListVersionsAsync(request, cancellationToken).ConfigureAwait(false);
            foreach (var version in page.Versions ?? [])
            {
                if (version.Key == fullKey && !string.IsNullOrEmpty(version.VersionId))
                {
                    versions.Add(version.VersionId);
                }
            }

            if (page.IsTruncated != true)
            {
                return versions;
            }

            request.KeyMarker = page.NextKeyMarker;
            request.VersionIdMarker = page.NextVersionIdMarker;
        }
    }

    private static async Task SkipAsync(Stream stream, long count, CancellationToken cancellationToken)
    {
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            while (count > 0)
            {
                var read = await stream.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, count)), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return;
                }

                count -= read;
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <inheritdoc/>
    public async ValueTask ExtendRetentionAsync(ObjectName name, DateTimeOffset retainUntil, ObjectLockMode mode, CancellationToken cancellationToken)
    {
        var key = name.Key;
        if ((Capabilities & ObjectStoreCapabilities.ObjectLock) == 0)
        {
            throw new NotSupportedException($"{Location}/{key}: bucket {_location.Bucket} has no Object Lock, so retention cannot be extended");
        }

        var head = await HeadAsync(key, cancellationToken).ConfigureAwait(false) ?? throw new ObjectNotFoundException(Location, key);
        var current = head.ObjectLockRetainUntilDate is { } date ? ToOffset(date) : (DateTimeOffset?)null;
        if (current >= retainUntil)
        {
            return;
        }

        // A COMPLIANCE lock cannot become GOVERNANCE; keep the stricter mode the object already has.
        var sdkMode = head.ObjectLockMode == Amazon.S3.ObjectLockMode.Compliance ? ObjectLockRetentionMode.Compliance : ToSdkRetention(mode);
        var request = new PutObjectRetentionRequest
        {
            BucketName = _location.Bucket,
            Key = _location.KeyOf(key),
            VersionId = head.VersionId,
            Retention = new ObjectLockRetention { Mode = sdkMode, RetainUntilDate = retainUntil.UtcDateTime },
        };
        try
        {
            await _client.PutObjectRetentionAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (S3Errors.IsMappable(e, cancellationToken))
        {
            throw S3Errors.Map(e, _location, _options, key);
        }
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _client.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>The object's metadata, or null when it does not exist.</summary>
    internal async ValueTask<GetObjectMetadataResponse?> HeadAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            return await _client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = _location.Bucket, Key = _location.KeyOf(key) }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (S3Errors.Status(e) == HttpStatusCode.NotFound)
        {
            return null;
        }
        catch (Exception e) when (S3Errors.IsMappable(e, cancellationToken))
        {
            throw S3Errors.Map(e, _location, _options, key);
        }
    }

    /// <summary>
    /// A read-only stream over <paramref name="content"/>: the array itself when the memory is one (no copy, the usual
    /// case), otherwise a pooled copy (native or pinned memory the SDK cannot read as a Stream).
    /// </summary>
    private static Stream BodyOf(ReadOnlyMemory<byte> content) =>
        MemoryMarshal.TryGetArray(content, out var segment)
            ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
            : BodyStreams.GetStream(nameof(S3ObjectStore), content.Span);

    private static DateTimeOffset ToOffset(DateTime? time) =>
        time is { } value ? new DateTimeOffset(value.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(value, DateTimeKind.Utc) : value.ToUniversalTime()) : DateTimeOffset.UnixEpoch;

    private static Amazon.S3.ObjectLockMode ToSdk(ObjectLockMode mode) =>
        mode == ObjectLockMode.Governance ? Amazon.S3.ObjectLockMode.Governance : Amazon.S3.ObjectLockMode.Compliance;

    private static ObjectLockRetentionMode ToSdkRetention(ObjectLockMode mode) =>
        mode == ObjectLockMode.Governance ? ObjectLockRetentionMode.Governance : ObjectLockRetentionMode.Compliance;
}
