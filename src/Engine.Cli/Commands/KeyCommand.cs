using System.CommandLine;

namespace Engine.Cli.Commands;

/// <summary>
/// <c>engine key create|info|paper|restore-paper</c>: a repository's encryption key, kept in a key file (raw or
/// wrapped under a passphrase) and optionally on paper (docs/repository-format.md, "Encryption").
/// </summary>
internal static class KeyCommand
{
    public static Command Create()
    {
        var command = new Command("key", "Create and inspect repository encryption keys, and print or restore their paper form.");
        command.Subcommands.Add(KeyCreateCommand.Create());
        command.Subcommands.Add(KeyInfoCommand.Create());
        command.Subcommands.Add(KeyPaperCommand.Create());
        command.Subcommands.Add(KeyRestorePaperCommand.Create());
        return command;
    }
}
