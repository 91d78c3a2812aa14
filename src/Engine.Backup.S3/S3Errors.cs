using System.Net;
using System.Net.Sockets;
using Amazon.Runtime;
using Amazon.S3;
using Engine.Backup.Repository.Storage;

namespace Engine.Backup.S3;

/// <summary>
/// Turns what the SDK throws into <see cref="ObjectStoreException"/>s that name the bucket and key, say what to check,
/// and tell the retry decorator whether trying again can help (timeouts, refused connections, 5xx, 429/SlowDown).
/// </summary>
internal static class S3Errors
{
    /// <summary>Whether <paramref name="e"/> is one the store maps (anything the SDK or the network throws).</summary>
    public static bool IsMappable(Exception e, CancellationToken cancellationToken) =>
        e is AmazonServiceException or AmazonClientException or HttpRequestException or IOException or SocketException or TimeoutException
        || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested);

    public static ObjectStoreException Map(Exception e, S3RepositoryLocation location, S3StoreOptions options, string key)
    {
        var where = location.ToString();
        if (Find<AmazonS3Exception>(e) is { } s3)
        {
            return MapAnswer(s3, where, location.Bucket, options, key);
        }

        if (Find<AmazonServiceException>(e) is { StatusCode: var status } service && (int)status >= 400)
        {
            var transient = (int)status >= 500 || status == HttpStatusCode.TooManyRequests;
            return new ObjectStoreException(where, key, $"{options.EndpointText} answered {(int)status} {service.ErrorCode}", transient, e);
        }

        if (Find<SocketException>(e) is { } socket)
        {
            return new ObjectStoreException(where, key, $"cannot reach the S3 endpoint {options.EndpointText} ({Describe(socket.SocketErrorCode)})", isTransient: true, e);
        }

        if (Find<TimeoutException>(e) is not null || e is OperationCanceledException)
        {
            return new ObjectStoreException(where, key, $"the S3 endpoint {options.EndpointText} did not answer in time", isTransient: true, e);
        }

        if (Find<HttpRequestException>(e) is not null || Find<IOException>(e) is not null)
        {
            return new ObjectStoreException(where, key, $"the connection to the S3 endpoint {options.EndpointText} failed", isTransient: true, e);
        }

        return new ObjectStoreException(where, key, $"S3 request to {options.EndpointText} failed: {e.Message}", isTransient: false, e);
    }

    /// <summary>The error code of an S3 answer inside <paramref name="e"/>, or null.</summary>
    public static string? ErrorCode(Exception e) => Find<AmazonS3Exception>(e)?.ErrorCode;

    /// <summary>The HTTP status of an S3 answer inside <paramref name="e"/>, or null.</summary>
    public static HttpStatusCode? Status(Exception e) => Find<AmazonServiceException>(e)?.StatusCode;

    private static ObjectStoreException MapAnswer(AmazonS3Exception s3, string where, string bucket, S3StoreOptions options, string key)
    {
        var status = (int)s3.StatusCode;
        var code = s3.ErrorCode ?? "";
        var what = key.Length == 0 ? $"bucket {bucket}" : $"bucket {bucket}, key {key}";
        return code switch
        {
            "NoSuchBucket" => new ObjectStoreException(where, key, $"bucket {bucket} does not exist at {options.EndpointText} (engine init creates it)", isTransient: false, s3),
            "InvalidAccessKeyId" => new ObjectStoreException(where, key, $"access denied to {what}: {options.EndpointText} does not know the access key in AWS_ACCESS_KEY_ID", isTransient: false, s3),
            "SignatureDoesNotMatch" => new ObjectStoreException(where, key, $"access denied to {what}: the secret key (AWS_SECRET_ACCESS_KEY) does not match the access key", isTransient: false, s3),
            "AccessDenied" or "AllAccessDisabled" => new ObjectStoreException(where, key, $"access denied to {what} at {options.EndpointText}", isTransient: false, s3),
            "SlowDown" or "RequestTimeout" or "ServiceUnavailable" or "InternalError" => new ObjectStoreException(where, key, $"{options.EndpointText} answered {status} {code} for {what}", isTransient: true, s3),
            _ => new ObjectStoreException(where, key, $"{options.EndpointText} answered {status} {code} for {what}", status >= 500 || status == 429, s3),
        };
    }

    private static string Describe(SocketError error) => error switch
    {
        SocketError.ConnectionRefused => "connection refused",
        SocketError.TimedOut => "connection timed out",
        SocketError.HostNotFound or SocketError.NoData => "host not found",
        SocketError.HostUnreachable or SocketError.NetworkUnreachable => "host unreachable",
        SocketError.ConnectionReset => "connection reset",
        _ => error.ToString(),
    };

    private static T? Find<T>(Exception? e)
        where T : Exception
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is T found)
            {
                return found;
            }
        }

        return null;
    }
}
