using System.Text.Encodings.Web;
using System.Text.Json;

namespace Engine.Cli;

/// <summary>The one way commands print <c>--json</c>: indented, with URIs and paths left readable.</summary>
internal static class JsonOutput
{
    private static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static void Write<T>(T value) => Console.Out.WriteLine(JsonSerializer.Serialize(value, Options));
}
