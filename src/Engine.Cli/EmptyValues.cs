using System.CommandLine;

namespace Engine.Cli;

/// <summary>
/// Every required string option and every string argument of the CLI names something (a repository, a file, a
/// snapshot, a URI): an empty value is a usage error (exit 64) named by its option, instead of a runtime failure
/// deep inside with .NET's "The value cannot be an empty string".
/// </summary>
internal static class EmptyValues
{
    /// <summary>Adds the check to <paramref name="command"/> and all its subcommands.</summary>
    public static void Refuse(Command command)
    {
        foreach (var option in command.Options)
        {
            if (option is Option<string> { Required: true } named)
            {
                named.Validators.Add(result =>
                {
                    if (result.GetValueOrDefault<string>() is { Length: 0 })
                    {
                        result.AddError($"{named.Name} needs a value, not an empty string");
                    }
                });
            }
        }

        foreach (var argument in command.Arguments)
        {
            if (argument is Argument<string> or Argument<string?>)
            {
                argument.Validators.Add(result =>
                {
                    if (result.GetValueOrDefault<string?>() is { Length: 0 })
                    {
                        result.AddError($"{argument.Name} needs a value, not an empty string");
                    }
                });
            }
        }

        foreach (var subcommand in command.Subcommands)
        {
            Refuse(subcommand);
        }
    }
}
