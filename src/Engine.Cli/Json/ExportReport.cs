namespace Engine.Cli.Json;

/// <summary>What <c>engine info URI --json</c> prints: the export's size, flags, block sizes and meta contexts.</summary>
internal sealed record ExportReport(
    string Uri,
    string ExportName,
    string? Description,
    long ExportSize,
    bool IsReadOnly,
    bool IsRotational,
    IReadOnlyDictionary<string, bool> Can,
    int BlockSizeMinimum,
    int BlockSizePreferred,
    int BlockSizeMaximum,
    string Protocol,
    IReadOnlyList<string> Contexts,
    bool Tls,
    string? TlsAuthentication,
    string? TlsProtocol);
