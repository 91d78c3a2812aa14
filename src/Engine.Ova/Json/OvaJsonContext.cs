using System.Text.Json.Serialization;

namespace Engine.Ova.Json;

/// <summary>Source-generated serialisation for the OVA JSON documents (no reflection; NativeAOT-safe).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    WriteIndented = true)]
[JsonSerializable(typeof(OvaInspectJson))]
[JsonSerializable(typeof(OvaImportJson))]
internal sealed partial class OvaJsonContext : JsonSerializerContext;
