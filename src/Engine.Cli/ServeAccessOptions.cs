using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Engine.Nbd.Server.Access;

namespace Engine.Cli;

/// <summary>
/// <c>--allow CLIENT</c> and <c>--allow-uid UID</c> of <c>engine serve</c>: repeatable, each applying to the export
/// named just before it (<c>--export NAME=FILE</c>), or to FILE's export when none was named yet or the last
/// <c>--export NAME</c> named FILE's. Order matters, so the flags are read from the command line's tokens.
/// </summary>
internal sealed class ServeAccessOptions
{
    /// <summary>The slot of FILE's export; <c>--export NAME=FILE</c> exports are numbered from 0 in order.</summary>
    public const int FileExport = -1;

    public Option<string[]> Allow { get; } = new("--allow")
    {
        Description = "Admit only this TLS client to the export before it: certificate subject DN or CN, or PSK user. Repeatable.",
        Arity = ArgumentArity.ZeroOrMore,
    };

    public Option<string[]> AllowUid { get; } = new("--allow-uid")
    {
        Description = "On a Unix socket, admit only this peer uid (SO_PEERCRED) to the export before it. Repeatable.",
        Arity = ArgumentArity.ZeroOrMore,
    };

    /// <summary>Adds the flags to a command.</summary>
    public void AddTo(Command command)
    {
        command.Options.Add(Allow);
        command.Options.Add(AllowUid);
    }

    /// <summary>Reads the rules per export slot (<see cref="FileExport"/> or the index of a NAME=FILE export).</summary>
    /// <exception cref="FormatException">A uid is not a number; the message names it.</exception>
    public Dictionary<int, ExportAccess> Read(ParseResult parse, Option<string[]> export)
    {
        var clients = new Dictionary<int, List<string>>();
        var uids = new Dictionary<int, List<uint>>();
        var current = FileExport;
        var namedExports = 0;
        Option? pending = null;
        foreach (var token in parse.Tokens)
        {
            if (token.Type == TokenType.Option)
            {
                pending = MatchOption(token.Value, export, Allow, AllowUid);
                continue;
            }

            if (token.Type != TokenType.Argument || pending is null)
            {
                pending = null;
                continue;
            }

            if (pending == export)
            {
                current = token.Value.Contains('=', StringComparison.Ordinal) ? namedExports++ : FileExport;
            }
            else if (pending == Allow)
            {
                Add(clients, current, token.Value);
            }
            else if (pending == AllowUid)
            {
                if (!uint.TryParse(token.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var uid))
                {
                    throw new FormatException($"--allow-uid {token.Value}: expected a numeric user ID");
                }

                Add(uids, current, uid);
            }

            pending = null;
        }

        var rules = new Dictionary<int, ExportAccess>();
        foreach (var slot in clients.Keys.Union(uids.Keys))
        {
            rules[slot] = new ExportAccess(clients.GetValueOrDefault(slot) ?? [], uids.GetValueOrDefault(slot) ?? []);
        }

        return rules;
    }

    private static Option? MatchOption(string text, params Option[] options) =>
        options.FirstOrDefault(o => o.Name == text || o.Aliases.Contains(text));

    private static void Add<T>(Dictionary<int, List<T>> into, int slot, T value)
    {
        if (!into.TryGetValue(slot, out var list))
        {
            into[slot] = list = [];
        }

        list.Add(value);
    }
}
