using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Engine.Backup;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Snapshots;

namespace Engine.Cli.Commands;

/// <summary>
/// What the repository commands (<c>snapshots</c>, <c>verify</c>, <c>prune</c>, <c>forget</c>, <c>gc</c>) share: the <c>--repo</c>
/// option, opening an existing repository with the right exit code, and source-generated <c>--json</c> output.
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

    public static Option<string> RepoOption() =>
        new("--repo") { Description = "The backup repository directory.", Required = true };

    public static Option<bool> JsonOption() => new("--json") { Description = "Print the result as JSON." };

    /// <summary>Runs <paramref name="action"/> on an existing repository; maps repository failures to exit codes.</summary>
    public static async Task<int> WithRepositoryAsync(string command, string directory, Func<BackupRepository, Task<int>> action)
    {
        try
        {
            using var repository = BackupRepository.Open(directory, create: false);
            return await action(repository).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RepositoryNotFoundException or SnapshotNotFoundException or DeviceNotFoundException)
        {
            Console.Error.WriteLine($"engine {command}: {ErrorText.Full(e)}");
            return ExitCodes.NoInput;
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
