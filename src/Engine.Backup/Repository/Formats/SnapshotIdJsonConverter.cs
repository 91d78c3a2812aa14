using System.Text.Json;
using System.Text.Json.Serialization;
using Engine.Backup.Repository.Snapshots;

namespace Engine.Backup.Repository.Formats;

/// <summary>A <see cref="SnapshotId"/> as its text form, <c>vm/100/2026-11-26T06:30:00Z</c>.</summary>
internal sealed class SnapshotIdJsonConverter : JsonConverter<SnapshotId>
{
    /// <inheritdoc />
    public override SnapshotId Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var text = reader.GetString();
        return SnapshotId.TryParse(text, out var id) ? id : throw new JsonException($"'{text}' is not a snapshot id");
    }

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, SnapshotId value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(value.ToString());
    }
}
