using System.CommandLine;
using System.Security.Cryptography;
using Engine.Backup.Repository.Crypto;

namespace Engine.Cli.Commands;

/// <summary>
/// What the <c>engine key</c> commands share: the passphrase source (<c>--passphrase-file</c>, else
/// <c>ENGINE_PASSPHRASE_FILE</c>), writing a new key file, and key-file failures mapped to exit codes (66 missing
/// file, 65 damaged file or wrong passphrase, 64 a passphrase needed and none given, 1 a file that exists).
/// </summary>
internal static class KeyCommandSupport
{
    public static Option<string> PassphraseFileOption(string description) =>
        new("--passphrase-file") { Description = description + $" Default: the file named by {Passphrase.FileVariable}." };

    public static Option<string> OutOption() =>
        new("--out") { Description = "The key file to create (mode 0600; never overwritten).", Required = true };

    /// <summary>The passphrase file given by option or environment, or null for none.</summary>
    public static string? PassphraseFile(ParseResult parse, Option<string> option) =>
        parse.GetValue(option) is { Length: > 0 } file ? file
            : Environment.GetEnvironmentVariable(Passphrase.FileVariable) is { Length: > 0 } fromEnvironment ? fromEnvironment
            : null;

    /// <summary>Writes <paramref name="key"/> to the new file <paramref name="path"/>, wrapped when a passphrase file is given, and says so.</summary>
    public static int WriteKeyFile(string command, string path, RepositoryKey key, string? passphraseFile, DateTimeOffset created)
    {
        var passphrase = passphraseFile is null ? [] : Passphrase.ReadFile(passphraseFile);
        try
        {
            var file = RepositoryKeyFile.Create(path, key, passphrase, created);
            Console.Out.WriteLine(file.IsWrapped
                ? $"{command}: key {file.Id} written to {path}, wrapped with the passphrase ({RepositoryKeyFile.KdfPbkdf2}, {RepositoryKeyFile.DefaultIterations} iterations)"
                : $"{command}: key {file.Id} written to {path}, not wrapped: whoever reads the file can read the repository");
            return ExitCodes.Ok;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(passphrase);
        }
    }

    /// <summary>Runs <paramref name="action"/>; maps key-file and file-system failures to exit codes and one line on stderr.</summary>
    public static int Run(string command, string? subject, Func<int> action)
    {
        try
        {
            return action();
        }
        catch (KeyFileException e)
        {
            Console.Error.WriteLine($"{command}: {e.Message}");
            return e.Problem switch
            {
                KeyFileProblem.Missing => ExitCodes.NoInput,
                KeyFileProblem.Damaged or KeyFileProblem.WrongPassphrase => ExitCodes.DataError,
                KeyFileProblem.PassphraseRequired => ExitCodes.Usage,
                _ => ExitCodes.Failure,
            };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine(subject is null ? $"{command}: {ErrorText.Full(e)}" : $"{command}: {subject}: {ErrorText.Describe(e)}");
            return ExitCodes.Failure;
        }
    }
}
