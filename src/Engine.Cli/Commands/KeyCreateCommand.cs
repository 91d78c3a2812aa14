using System.CommandLine;
using Engine.Backup.Repository.Crypto;

namespace Engine.Cli.Commands;

/// <summary><c>engine key create --out FILE [--passphrase-file F]</c>: a new random 256-bit repository key.</summary>
internal static class KeyCreateCommand
{
    public static Command Create()
    {
        var output = KeyCommandSupport.OutOption();
        var passphraseFile = KeyCommandSupport.PassphraseFileOption("Wrap the key under the passphrase in this file (PBKDF2-HMAC-SHA256, AES-256-GCM).");
        var command = new Command("create", "Create a random 256-bit repository encryption key in a new key file.") { output, passphraseFile };
        command.SetAction(parse =>
        {
            var path = parse.GetValue(output)!;
            return KeyCommandSupport.Run("engine key create", path, () =>
            {
                using var key = RepositoryKey.Generate();
                return KeyCommandSupport.WriteKeyFile("engine key create", path, key, KeyCommandSupport.PassphraseFile(parse, passphraseFile), DateTimeOffset.UtcNow);
            });
        });
        return command;
    }
}
