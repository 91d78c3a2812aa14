namespace Engine.Cli.Json;

/// <summary>What <c>engine copy --json</c> prints: byte counts and the time of the copy after connecting.</summary>
internal sealed record CopyReport(
    string Source,
    string Target,
    long Bytes,
    long DataBytes,
    long ZeroBytes,
    double Seconds,
    double BytesPerSecond);
