using System.Text.Json;
using System.Text.Json.Serialization;
using Engine.Backup.Repository.Chunks;

namespace Engine.Backup.Repository.Formats;

/// <summary>A <see cref="ChunkDigest"/> as 64 lowercase hex digits.</summary>
internal sealed class ChunkDigestJsonConverter : JsonConverter<ChunkDigest>
{
    /// <inheritdoc />
    public override ChunkDigest Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        ChunkDigest.TryParse(reader.GetString(), out var digest) ? digest : throw new JsonException("not a chunk digest");

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, ChunkDigest value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(value.ToString());
    }
}
