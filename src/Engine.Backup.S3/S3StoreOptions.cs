namespace Engine.Backup.S3;

/// <summary>
/// How to reach an S3 store: endpoint, credentials and region, from the standard AWS variables or given. Timeouts are
/// bounded and the SDK's own retries are off: the store's retry decorator (Engine.Backup's RetryingObjectStore) is the
/// one place that retries, with backoff, and only failures marked transient.
/// </summary>
public sealed class S3StoreOptions
{
    /// <summary>The region used when <c>AWS_REGION</c> is not set (also what local gateways answer to).</summary>
    public const string DefaultRegion = "us-east-1";

    /// <summary>The endpoint (<c>http://127.0.0.1:7480</c>); null for AWS's own regional endpoint.</summary>
    public Uri? Endpoint { get; init; }

    /// <summary>The access key id.</summary>
    public required string AccessKey { get; init; }

    /// <summary>The secret access key.</summary>
    public required string SecretKey { get; init; }

    /// <summary>The region requests are signed for.</summary>
    public string Region { get; init; } = DefaultRegion;

    /// <summary>Path-style addressing (<c>http://host/BUCKET/KEY</c>), which local gateways need: no bucket DNS names.</summary>
    public bool ForcePathStyle { get; init; } = true;

    /// <summary>How long one request may take, start to end.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long connecting to the endpoint may take.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Options from <c>AWS_ACCESS_KEY_ID</c>, <c>AWS_SECRET_ACCESS_KEY</c>, <c>AWS_ENDPOINT_URL</c> and <c>AWS_REGION</c>;
    /// <paramref name="endpoint"/>, when given (<c>--s3-endpoint</c>), wins over <c>AWS_ENDPOINT_URL</c>.
    /// </summary>
    /// <param name="endpoint">An explicit endpoint URL, or null.</param>
    /// <param name="environment">Reads a variable; null reads the process environment.</param>
    /// <exception cref="FormatException">A variable is missing or the endpoint is not an http(s) URL; the message names it.</exception>
    public static S3StoreOptions FromEnvironment(string? endpoint = null, Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        var accessKey = Required(environment, "AWS_ACCESS_KEY_ID");
        var secretKey = Required(environment, "AWS_SECRET_ACCESS_KEY");
        var endpointText = string.IsNullOrEmpty(endpoint) ? environment("AWS_ENDPOINT_URL") : endpoint;
        Uri? endpointUri = null;
        if (!string.IsNullOrEmpty(endpointText))
        {
            var source = string.IsNullOrEmpty(endpoint) ? "AWS_ENDPOINT_URL" : "the S3 endpoint";
            if (!Uri.TryCreate(endpointText, UriKind.Absolute, out endpointUri) || endpointUri.Scheme is not ("http" or "https"))
            {
                throw new FormatException($"{source} '{endpointText}' is not an http:// or https:// URL");
            }
        }

        var region = environment("AWS_REGION");
        return new S3StoreOptions
        {
            Endpoint = endpointUri,
            AccessKey = accessKey,
            SecretKey = secretKey,
            Region = string.IsNullOrEmpty(region) ? DefaultRegion : region,
        };
    }

    /// <summary>The endpoint for messages.</summary>
    /// <summary>The endpoint for messages, without any user:password an endpoint URL may carry.</summary>
    internal string EndpointText => Endpoint is { } endpoint
        ? (string.IsNullOrEmpty(endpoint.UserInfo) ? endpoint.ToString() : new UriBuilder(endpoint) { UserName = string.Empty, Password = string.Empty }.Uri.ToString()).TrimEnd('/')
        : $"AWS S3 ({Region})";

    private static string Required(Func<string, string?> environment, string name)
    {
        var value = environment(name);
        if (string.IsNullOrEmpty(value))
        {
            throw new FormatException($"{name} is not set: S3 repositories take their credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
        }

        return value;
    }
}
