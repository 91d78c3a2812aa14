using System.Text.Json.Serialization;

namespace Engine.Backup.S3;

/// <summary>Source-generated JSON for the S3 repository's documents (no reflection: the CLI is NativeAOT-bound).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(S3RepositoryConfig))]
internal sealed partial class S3JsonContext : JsonSerializerContext;
