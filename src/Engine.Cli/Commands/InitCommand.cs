using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Engine.Backup;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Storage;
using Engine.Backup.S3;

namespace Engine.Cli.Commands;

/// <summary>
/// <c>engine init --repo URL [--retain-days N] [--lock-mode compliance|governance] [--s3-endpoint URL] [--json]</c>:
/// creates a repository. For <c>s3://BUCKET/PREFIX</c> it creates the bucket when missing (with Object Lock when
/// <c>--retain-days</c> is given) and writes the repository's <c>config</c> object; a local directory is created as
/// the first backup would create it. An existing repository is left alone and reported (exit 1).
/// </summary>
internal static class InitCommand
{
    public static Command Create()
    {
        var repo = new Option<string>("--repo") { Description = "The repository: a directory, or s3://BUCKET/PREFIX.", Required = true };
        var retainDays = new Option<int?>("--retain-days") { Description = "Lock every object a snapshot references for N days (S3 Object Lock; the bucket is created with it)." };
        retainDays.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int?>() is < 1 and var days)
            {
                r.AddError($"--retain-days {days}: the retention is one day or more");
            }
        });
        var lockMode = new Option<string?>("--lock-mode") { Description = "compliance (default: nobody can delete early) or governance." };
        lockMode.AcceptOnlyFromAmong("compliance", "governance");
        var endpoint = new Option<string?>("--s3-endpoint") { Description = "The S3 endpoint URL (default: AWS_ENDPOINT_URL)." };
        var json = RepositoryCommandSupport.JsonOption();
        var command = new Command("init", "Create a repository (an S3 bucket with Object Lock when --retain-days is given).") { repo, retainDays, lockMode, endpoint, json };
        command.Validators.Add(r =>
        {
            if (r.GetValue(lockMode) is not null && r.GetValue(retainDays) is null)
            {
                r.AddError("--lock-mode needs --retain-days");
            }

            if (!S3RepositoryLocation.IsS3(r.GetValue(repo)) && (r.GetValue(retainDays) is not null || r.GetValue(endpoint) is not null))
            {
                r.AddError("--retain-days and --s3-endpoint apply to s3:// repositories only (a directory has no Object Lock)");
            }
        });
        command.SetAction((parse, cancellationToken) =>
        {
            var target = parse.GetValue(repo)!;
            var asJson = parse.GetValue(json);
            if (!S3RepositoryLocation.IsS3(target))
            {
                return Task.FromResult(InitDirectory(target, asJson));
            }

            var retention = parse.GetValue(retainDays) is { } days
                ? new S3RetentionSettings(days, parse.GetValue(lockMode) == "governance" ? ObjectLockMode.Governance : ObjectLockMode.Compliance)
                : null;
            return InitS3Async(target, parse.GetValue(endpoint), retention, asJson, cancellationToken);
        });
        return command;
    }

    private static int InitDirectory(string directory, bool asJson)
    {
        try
        {
            try
            {
                using var existing = BackupRepository.Open(directory, create: false);
                return AlreadyRepository(existing.Directory);
            }
            catch (RepositoryNotFoundException)
            {
                // The usual case: nothing there yet.
            }

            using var repository = BackupRepository.Open(directory, create: true);
            Report(asJson, repository.Directory, endpoint: null, bucketCreated: false, retention: null,
                $"engine init: created repository {repository.Directory}");
            return ExitCodes.Ok;
        }
        catch (Exception e) when (e is RepositoryException or IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"engine init: {ErrorText.Full(e)}");
            return ExitCodes.Failure;
        }
    }

    private static async Task<int> InitS3Async(string target, string? endpoint, S3RetentionSettings? retention, bool asJson, CancellationToken cancellationToken)
    {
        S3RepositoryLocation location;
        S3StoreOptions options;
        try
        {
            location = S3RepositoryLocation.Parse(target);
            options = S3StoreOptions.FromEnvironment(endpoint);
        }
        catch (FormatException e)
        {
            Console.Error.WriteLine($"engine init: {e.Message}");
            return ExitCodes.Usage;
        }

        try
        {
            var result = await S3Repository.InitializeAsync(location, options, retention, cancellationToken).ConfigureAwait(false);
            if (result.AlreadyRepository)
            {
                return AlreadyRepository(result.Location);
            }

            var bucket = result.BucketCreated ? $"bucket {location.Bucket} created" : $"in the existing bucket {location.Bucket}";
            var locking = retention is null ? "" : string.Create(CultureInfo.InvariantCulture,
                $", Object Lock {retention.Mode.ToString().ToUpperInvariant()} for {retention.Days} day(s) per snapshot");
            Report(asJson, result.Location, result.Endpoint, result.BucketCreated, retention,
                $"engine init: created repository {result.Location} at {result.Endpoint} ({bucket}{locking})");
            return ExitCodes.Ok;
        }
        catch (ObjectStoreException e)
        {
            Console.Error.WriteLine($"engine init: {ErrorText.Full(e)}");
            return e.IsTransient ? ExitCodes.Unavailable : ExitCodes.Failure;
        }
    }

    private static int AlreadyRepository(string location)
    {
        Console.Error.WriteLine($"engine init: {location} is already a repository; nothing was changed");
        return ExitCodes.Failure;
    }

    private static void Report(bool asJson, string location, string? endpoint, bool bucketCreated, S3RetentionSettings? retention, string text)
    {
        if (!asJson)
        {
            Console.Out.WriteLine(text);
            return;
        }

        // Four fields, written directly: no type of their own for the source-generated contexts to carry.
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            writer.WriteString("repository", location);
            if (endpoint is not null)
            {
                writer.WriteString("endpoint", endpoint);
                writer.WriteBoolean("bucket_created", bucketCreated);
            }

            if (retention is not null)
            {
                writer.WriteNumber("retain_days", retention.Days);
                writer.WriteString("lock_mode", retention.Mode.ToString().ToLowerInvariant());
            }

            writer.WriteEndObject();
        }

        Console.Out.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
    }
}
