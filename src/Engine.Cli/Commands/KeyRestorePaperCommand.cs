using System.CommandLine;
using Engine.Backup.Repository.Crypto;

namespace Engine.Cli.Commands;

/// <summary>
/// <c>engine key restore-paper --out FILE [--passphrase-file F] [PAGE]</c>: a key file again from its paper form
/// (typed into PAGE, or on stdin), with the same id and creation time.
/// </summary>
internal static class KeyRestorePaperCommand
{
    public static Command Create()
    {
        var page = new Argument<string>("PAGE") { Description = "The typed paper form; '-' or none: standard input.", Arity = ArgumentArity.ZeroOrOne };
        var output = KeyCommandSupport.OutOption();
        var passphraseFile = KeyCommandSupport.PassphraseFileOption("Wrap the restored key under the passphrase in this file.");
        var command = new Command("restore-paper", "Rebuild a key file from the paper form printed by 'engine key paper'.") { page, output, passphraseFile };
        command.SetAction(parse =>
        {
            var source = parse.GetValue(page) is { Length: > 0 } named && named != "-" ? named : null;
            var path = parse.GetValue(output)!;
            return KeyCommandSupport.Run("engine key restore-paper", path, () =>
            {
                string text;
                try
                {
                    text = source is null ? Console.In.ReadToEnd() : File.ReadAllText(source);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // Reported as the page's failure, not the key file's (the subject of every other error here).
                    throw new KeyFileException(source!, KeyFileProblem.Missing, $"{source}: {ErrorText.Describe(e)}", e);
                }

                using var key = PaperKey.Parse(text, source ?? "standard input", out var created);
                return KeyCommandSupport.WriteKeyFile("engine key restore-paper", path, key,
                    KeyCommandSupport.PassphraseFile(parse, passphraseFile), created ?? DateTimeOffset.UtcNow);
            });
        });
        return command;
    }
}
