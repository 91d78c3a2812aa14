using System.CommandLine;
using System.CommandLine.Parsing;

namespace Engine.Cli;

/// <summary>The words that name the command a parse ended at, as messages start with them ("engine ova import").</summary>
internal static class CommandPath
{
    /// <summary>"engine" followed by the subcommand names of <paramref name="parse"/>'s command.</summary>
    public static string Of(ParseResult parse)
    {
        var names = new List<string>();
        for (var command = parse.CommandResult; command is not null; command = command.Parent as CommandResult)
        {
            if (command.Command is not RootCommand)
            {
                names.Add(command.Command.Name);
            }
        }

        names.Add("engine");
        names.Reverse();
        return string.Join(' ', names);
    }
}
