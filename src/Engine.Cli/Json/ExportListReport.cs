namespace Engine.Cli.Json;

/// <summary>What <c>engine info URI --list --json</c> prints: the server's exports.</summary>
internal sealed record ExportListReport(IReadOnlyList<ExportListReport.Entry> Exports)
{
    /// <summary>One export: its name and the description the server gives, if any.</summary>
    internal sealed record Entry(string Name, string? Description);
}
