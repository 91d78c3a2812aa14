using System.CommandLine;

namespace Engine.Cli.Commands;

/// <summary>Placeholder until the serve command lands.</summary>
internal static class OvaServeCommand
{
    public static Command Create() => new("serve", "Serve an OVA's inner raw or flat disk over NBD without extracting it.");
}
