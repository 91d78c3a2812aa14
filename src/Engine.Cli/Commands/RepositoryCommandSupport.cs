using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Engine.Backup;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Snapshots;
using Engine.Backup.Repository.Storage;
using Engine.Backup.Repository.Storage.Cache;
using Engine.Backup.S3;

namespace Engine.Cli.Commands;

/// <summary>
/// What the repository commands (<c>snapshots</c>, <c>verify</c>, <c>prune</c>, <c>forget</c>, <c>gc</c>, and the
/// backup, restore and export commands) share: the <c>--repo</c> option (a directory or <c>s3://BUCKET/PREFIX</c>),
/// opening a repository with the right exit code, and source-generated <c>--json</c> output.
/// </summary>
internal static class RepositoryCommandSupport
{
    // snake_case like every other --json document of the CLI (and nbdinfo's); the files in the repository keep the
    // context's camelCase.
    private static readonly JsonSerializerOptions JsonOptions = new(RepositoryJsonContext.Default.Options)
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    /// <summary>What every <c>--repo</c> takes.</summary>
    public const string RepoDescription = "The backup repository: a directory, or s3://BUCKET/PREFIX made by engine init (credentials and endpoint from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, AWS_REGION).";

    public static Option<string> RepoOption() =>
        new("--repo") { Description = RepoDescription, Required = true };

    /// <summary>
    /// Opens the repository <paramref name="repository"/> names: a directory (created when missing if
    /// <paramref name="create"/>, as a first backup does) or an S3 repository, which only <c>engine init</c> creates.
    /// An S3 repository keeps the names of chunks it knows in the user's cache (<c>~/.cache/engine/ID/chunks.known</c>),
    /// so an incremental backup does not ask the store about every chunk it reuses.
    /// </summary>
    /// <exception cref="FormatException">A bad S3 URL or a missing credential variable (a usage error).</exception>
    /// <exception cref="RepositoryNotFoundException">No repository there (and none is to be created).</exception>
    public static async Task<BackupRepository> OpenAsync(string repository, bool create, CancellationToken cancellationToken)
    {
        if (!S3RepositoryLocation.IsS3(repository))
        {
            return BackupRepository.Open(repository, create: create);
        }

        var location = S3RepositoryLocation.Parse(repository);
        var options = S3StoreOptions.FromEnvironment();
        var identity = string.Concat(options.Endpoint?.ToString() ?? options.Region, "|", location.ToString());
        var id = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(identity)))[..32];
        return await S3Repository.OpenAsync(location, options, KnownObjectCache.DefaultPath(id), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// What is wrong with <paramref name="repository"/> before anything is opened (a bad <c>s3://</c> URL, a missing
    /// credential variable), for a usage error; null when nothing is.
    /// </summary>
    public static string? UsageProblem(string repository)
    {
        if (!S3RepositoryLocation.IsS3(repository))
        {
            return null;
        }

        try
        {
            _ = S3RepositoryLocation.Parse(repository);
            _ = S3StoreOptions.FromEnvironment();
            return null;
        }
        catch (FormatException e)
        {
            return e.Message;
        }
    }

    /// <summary>The message of a repository that was not found; for S3 it says who creates one.</summary>
    public static string NotFoundText(Exception e, string repository) => S3RepositoryLocation.IsS3(repository) && e is RepositoryNotFoundException
        ? $"{ErrorText.Full(e)} (engine init --repo {repository} creates one)"
        : ErrorText.Full(e);

    public static Option<bool> JsonOption() => new("--json") { Description = "Print the result as JSON." };

    /// <summary>Runs <paramref name="action"/> on an existing repository; maps repository failures to exit codes.</summary>
    public static async Task<int> WithRepositoryAsync(string command, string directory, Func<BackupRepository, Task<int>> action, CancellationToken cancellationToken = default)
    {
        try
        {
            using var repository = await OpenAsync(directory, create: false, cancellationToken).ConfigureAwait(false);
            return await action(repository).ConfigureAwait(false);
        }
        catch (FormatException e)
        {
            Console.Error.WriteLine($"engine {command}: {e.Message}");
            return ExitCodes.Usage;
        }
        catch (Exception e) when (e is RepositoryNotFoundException or SnapshotNotFoundException or DeviceNotFoundException)
        {
            Console.Error.WriteLine($"engine {command}: {NotFoundText(e, directory)}");
            return ExitCodes.NoInput;
        }
        catch (ObjectStoreException e) when (e.IsTransient)
        {
            Console.Error.WriteLine($"engine {command}: {ErrorText.Full(e)}");
            return ExitCodes.Unavailable;
        }
        catch (Exception e) when (e is RepositoryException or IOException or UnauthorizedAccessException or ArgumentException or InvalidDataException)
        {
            Console.Error.WriteLine($"engine {command}: {ErrorText.Full(e)}");
            return ExitCodes.Failure;
        }
    }

    /// <summary>Prints a repository document or report as indented JSON (no reflection: the CLI is NativeAOT-bound).</summary>
    public static void WriteJson<T>(T value)
    {
        var typeInfo = (JsonTypeInfo<T>)JsonOptions.GetTypeInfo(typeof(T));
        Console.Out.WriteLine(JsonSerializer.Serialize(value, typeInfo));
    }

    /// <summary>Prints rows as left-aligned columns separated by two spaces (the last column is not padded).</summary>
    public static void WriteTable(IReadOnlyList<string[]> rows)
    {
        if (rows.Count == 0)
        {
            return;
        }

        var widths = new int[rows[0].Length];
        foreach (var row in rows)
        {
            for (var i = 0; i < row.Length; i++)
            {
                widths[i] = Math.Max(widths[i], row[i].Length);
            }
        }

        foreach (var row in rows)
        {
            var line = new System.Text.StringBuilder();
            for (var i = 0; i < row.Length; i++)
            {
                line.Append(i == row.Length - 1 ? row[i] : row[i].PadRight(widths[i] + 2));
            }

            Console.Out.WriteLine(line.ToString().TrimEnd());
        }
    }
}
