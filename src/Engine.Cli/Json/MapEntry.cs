namespace Engine.Cli.Json;

/// <summary>One line of <c>engine info URI --map --json</c>, as in <c>nbdinfo --map --json</c>.</summary>
internal sealed record MapEntry(long Offset, long Length, uint Type, string? Description);
