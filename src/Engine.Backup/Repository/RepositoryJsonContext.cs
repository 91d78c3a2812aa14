using System.Text.Json.Serialization;
using Engine.Backup.Repository.Formats;
using Engine.Backup.Repository.Snapshots;

namespace Engine.Backup.Repository;

/// <summary>
/// Source-generated JSON for every repository document (configuration, manifests) and report (verify, prune, gc), so
/// nothing here needs reflection and the CLI can be published with NativeAOT. camelCase names; ids and digests as
/// strings; enums as their names.
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    UseStringEnumConverter = true,
    Converters = [typeof(SnapshotIdJsonConverter), typeof(ChunkDigestJsonConverter)])]
[JsonSerializable(typeof(RepositoryConfig))]
[JsonSerializable(typeof(SnapshotManifest))]
[JsonSerializable(typeof(IReadOnlyList<SnapshotManifest>))]
[JsonSerializable(typeof(VerifyReport))]
[JsonSerializable(typeof(PruneResult))]
[JsonSerializable(typeof(GcReport))]
internal sealed partial class RepositoryJsonContext : JsonSerializerContext;
