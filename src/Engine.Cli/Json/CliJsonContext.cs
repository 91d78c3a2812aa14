using System.Text.Json.Serialization;

namespace Engine.Cli.Json;

/// <summary>
/// Source-generated JSON metadata for the documents of <c>engine info</c> and <c>engine copy</c>. Property names are
/// snake_case, as nbdinfo's and qemu-img's JSON, which scripts parse side by side with ours.
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(CopyReport))]
[JsonSerializable(typeof(ExportReport))]
[JsonSerializable(typeof(ExportListReport))]
[JsonSerializable(typeof(List<MapEntry>))]
internal sealed partial class CliJsonContext : JsonSerializerContext;
