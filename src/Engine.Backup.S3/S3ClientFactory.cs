using Amazon;
using Amazon.Runtime;
using Amazon.S3;

namespace Engine.Backup.S3;

/// <summary>Builds the SDK client from <see cref="S3StoreOptions"/>, in one place so every use of it is configured alike.</summary>
internal static class S3ClientFactory
{
    public static AmazonS3Client Create(S3StoreOptions options)
    {
        var config = new AmazonS3Config
        {
            ForcePathStyle = options.ForcePathStyle,
            Timeout = options.RequestTimeout,
            ConnectTimeout = options.ConnectTimeout,
            // Retries belong to the retry decorator, which knows what is transient and backs off across the whole
            // store; SDK retries beneath it would multiply the attempts and the time a dead gateway takes to report.
            MaxErrorRetry = 0,
            // Checksums only where S3 requires them: the flexible-checksum default (an aws-chunked body with a CRC
            // trailer on every PUT) is not understood by older gateways such as Ceph 16's radosgw. Object Lock puts,
            // which do require one, carry Content-MD5 (S3ObjectStore.SaveAsync).
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            // Only what the options say: no shared config files, no profile, no endpoint from elsewhere.
            IgnoreConfiguredEndpointUrls = true,
        };
        if (options.Endpoint is { } endpoint)
        {
            config.ServiceURL = endpoint.ToString();
            config.AuthenticationRegion = options.Region;
        }
        else
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(options.Region);
        }

        return new AmazonS3Client(new BasicAWSCredentials(options.AccessKey, options.SecretKey), config);
    }
}
