using System.CommandLine;
using Engine.Backup.Repository.Crypto;

namespace Engine.Cli.Commands;

/// <summary>
/// <c>engine key paper FILE [--passphrase-file F]</c>: the key's printable recovery form on stdout, the one command
/// that shows key material (<see cref="PaperKey"/>).
/// </summary>
internal static class KeyPaperCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("FILE") { Description = "The key file." };
        var passphraseFile = KeyCommandSupport.PassphraseFileOption("The passphrase of a wrapped key.");
        var command = new Command("paper", "Print the key as a paper form (hex lines with checks) for offline recovery with 'engine key restore-paper'.") { file, passphraseFile };
        command.SetAction(parse =>
        {
            var path = parse.GetValue(file)!;
            return KeyCommandSupport.Run("engine key paper", path, () =>
            {
                var keyFile = RepositoryKeyFile.Read(path);
                using var key = RepositoryKeyFile.Load(path, KeyCommandSupport.PassphraseFile(parse, passphraseFile));
                Console.Out.Write(PaperKey.Format(key, keyFile.Created));
                return ExitCodes.Ok;
            });
        });
        return command;
    }
}
