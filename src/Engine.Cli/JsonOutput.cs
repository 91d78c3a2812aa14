using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Engine.Cli;

/// <summary>
/// The one way commands print <c>--json</c>: indented, with URIs and paths left readable. The document's shape comes
/// from source-generated metadata (<see cref="Json.CliJsonContext"/> or a command's own context), never reflection:
/// the CLI is published with NativeAOT.
/// </summary>
internal static class JsonOutput
{
    // Formatting belongs to the writer, so every context's documents look alike.
    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Indented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Writes <paramref name="value"/> and a newline to standard output.</summary>
    public static void Write<T>(T value, JsonTypeInfo<T> typeInfo)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            JsonSerializer.Serialize(writer, value, typeInfo);
        }

        Console.Out.WriteLine(Encoding.UTF8.GetString(buffer.WrittenSpan));
    }
}
