using System.CommandLine;
using Engine.Cli.Commands;

namespace Engine.Cli;

/// <summary>Entry point of the <c>engine</c> command-line tool.</summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        var root = new RootCommand("Engine: a high-performance NBD and block-transfer engine.");
        root.Subcommands.Add(ServeCommand.Create());
        return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
    }
}
