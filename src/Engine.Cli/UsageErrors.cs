using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Engine.Cli;

/// <summary>
/// Every command's usage errors, handled in one place: an unknown command or option, a missing argument or required
/// option, a value that does not parse. Each is printed to stderr as "engine COMMAND: problem", followed by where to
/// find the usage, and the exit code is <see cref="ExitCodes.Usage"/> (docs/cli.md, "Exit codes and errors"). Nothing goes to stdout,
/// so a script reading <c>--json</c> never gets help text instead of a document.
/// </summary>
internal static partial class UsageErrors
{
    /// <summary>
    /// Prints <paramref name="parse"/>'s usage errors to <paramref name="error"/>; false when there are none or the
    /// command line asks for help or the version (those win over errors, as in any Unix tool).
    /// </summary>
    public static bool Report(ParseResult parse, TextWriter error)
    {
        if (parse.Action is { ClearsParseErrors: true })
        {
            return false;
        }

        var problems = parse.Errors.Select(e => Readable(e.Message)).Concat(OptionLikeArguments(parse)).Distinct().ToList();
        if (problems.Count == 0)
        {
            return false;
        }

        var command = CommandPath.Of(parse);
        foreach (var problem in problems)
        {
            error.WriteLine($"{command}: {problem}");
        }

        error.WriteLine($"Run '{command} --help' for usage.");
        return true;
    }

    /// <summary>
    /// Tokens that look like options but were taken as a command's argument (<c>engine info --bogus</c> would
    /// otherwise try "--bogus" as a URI). "-" alone is standard input, negative numbers are values, and anything after
    /// "--" is an argument by request.
    /// </summary>
    private static IEnumerable<string> OptionLikeArguments(ParseResult parse)
    {
        var doubleDash = parse.Tokens.ToList().FindIndex(t => t.Type == TokenType.DoubleDash);
        for (var result = parse.CommandResult; result is not null; result = result.Parent as CommandResult)
        {
            foreach (var argument in result.Children.OfType<ArgumentResult>())
            {
                foreach (var token in argument.Tokens)
                {
                    var position = IndexOf(parse.Tokens, token);
                    if (doubleDash >= 0 && position > doubleDash)
                    {
                        continue;
                    }

                    if (token.Value.Length > 1 && token.Value[0] == '-'
                        && !double.TryParse(token.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
                    {
                        yield return $"Unrecognized option '{token.Value}'.";
                    }
                }
            }
        }
    }

    private static int IndexOf(IReadOnlyList<Token> tokens, Token token)
    {
        for (var i = 0; i < tokens.Count; i++)
        {
            if (ReferenceEquals(tokens[i], token))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>
    /// One line per problem, and what the user must type where System.CommandLine names the .NET type a value failed
    /// to parse as. A list of choices comes one per line ("Must be one of:\n\t'nbd'\n\t'file-handle'"): join it.
    /// </summary>
    private static string Readable(string message)
    {
        var lines = message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var line = lines.Length > 1 ? $"{lines[0]} {string.Join(", ", lines[1..])}" : message;
        return ClrTypeName().Replace(line, m => m.Groups[1].Value switch
        {
            "Int32" or "Int64" or "UInt32" or "UInt64" or "Int16" or "UInt16" or "Byte" => "an integer",
            "Boolean" => "true or false",
            "Double" or "Single" or "Decimal" => "a number",
            _ => "a valid value",
        });
    }

    [GeneratedRegex(@"(?<=as )expected type 'System\.(\w+)'")]
    private static partial Regex ClrTypeName();
}
