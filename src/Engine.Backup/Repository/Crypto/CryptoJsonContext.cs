using System.Text.Json.Serialization;

namespace Engine.Backup.Repository.Crypto;

/// <summary>Source-generated JSON of the key file and of <c>engine key info --json</c> (no reflection: NativeAOT).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(KeyFileDocument))]
[JsonSerializable(typeof(RepositoryKeyInfo))]
internal sealed partial class CryptoJsonContext : JsonSerializerContext;
