using System.CommandLine;
using Engine.Cli.Commands;

namespace Engine.Cli.Startup;

/// <summary>Entry point of the <c>engine</c> command-line tool.</summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        var root = new RootCommand("Engine: a high-performance NBD and block-transfer engine.");
        root.Subcommands.Add(ServeCommand.Create());
        root.Subcommands.Add(InfoCommand.Create());
        root.Subcommands.Add(CopyCommand.Create());
        root.Subcommands.Add(BackupCommand.Create());
        root.Subcommands.Add(RestoreCommand.Create());
        root.Subcommands.Add(ExportCommand.Create());
        root.Subcommands.Add(SnapshotsCommand.Create());
        root.Subcommands.Add(VerifyCommand.Create());
        root.Subcommands.Add(PruneCommand.Create());
        root.Subcommands.Add(GcCommand.Create());
        root.Subcommands.Add(InitCommand.Create());
        root.Subcommands.Add(ForgetCommand.Create());
        root.Subcommands.Add(OvaCommand.Create());
        root.Subcommands.Add(ProviderCommand.Create());
        root.Subcommands.Add(BackupCtCommand.Create());
        root.Subcommands.Add(RestoreCtCommand.Create());
        root.Subcommands.Add(KeyCommand.Create());
        EmptyValues.Refuse(root);
        var parse = root.Parse(NormalizeOptionalValues(args));
        if (UsageErrors.Report(parse, Console.Error))
        {
            return ExitCodes.Usage;
        }

        try
        {
            // System.CommandLine's own exception handler would print the stack trace. Its signal handling would end
            // the process 2 s after SIGINT/SIGTERM whatever the command was doing (a server's orderly stop, a restore
            // removing its partial file): TerminationSignal and ShutdownSignal own signals instead.
            return await parse.InvokeAsync(new InvocationConfiguration
            {
                EnableDefaultExceptionHandler = false,
                ProcessTerminationTimeout = null,
            }).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // The last resort: whatever a command let escape becomes one line and exit 1.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            return UnexpectedError.Report(parse, ex, Console.Error);
        }
    }

    /// <summary>
    /// A bare <c>--map</c> means <c>--map=base:allocation</c>, as in nbdinfo, where the context can only be attached
    /// with '='; otherwise the parser would take the URI that follows as the context.
    /// </summary>
    private static string[] NormalizeOptionalValues(string[] args)
    {
        var result = (string[])args.Clone();
        for (var i = 0; i < result.Length; i++)
        {
            if (result[i] == "--")
            {
                break;
            }

            if (result[i] == "--map")
            {
                result[i] = "--map=" + Nbd.Protocol.NbdWire.BaseAllocation;
            }
        }

        return result;
    }
}
