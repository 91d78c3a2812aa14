using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Engine.Ova.Json;

namespace Engine.Cli.Commands;

/// <summary><c>engine ova inspect|import|serve</c>: OVA appliances read in one pass, without extracting them.</summary>
internal static class OvaCommand
{
    public static Command Create()
    {
        var command = new Command("ova", "Inspect, import or serve OVA appliances (OVF + VMDK in a tar) without extracting them.");
        command.Subcommands.Add(OvaInspectCommand.Create());
        command.Subcommands.Add(OvaImportCommand.Create());
        command.Subcommands.Add(OvaServeCommand.Create());
        return command;
    }

    /// <summary>The source-generated context, with the house JSON style (indented, paths and URIs unescaped).</summary>
    public static OvaJsonContext Json { get; } = new(new JsonSerializerOptions(OvaJsonContext.Default.Options)
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });

    public static void WriteJson<T>(T value, JsonTypeInfo<T> type) => Console.Out.WriteLine(JsonSerializer.Serialize(value, type));

    /// <summary>Opens an archive path; "-" is standard input (a pipe).</summary>
    /// <exception cref="FileNotFoundException">The path is missing or a folder (exit 66, with a message of our own).</exception>
    /// <exception cref="UnauthorizedAccessException">The archive may not be read.</exception>
    public static Stream OpenArchive(string path)
    {
        if (path == "-")
        {
            return Console.OpenStandardInput(1 << 20);
        }

        if (Directory.Exists(path))
        {
            throw new FileNotFoundException($"{path} is a folder, not an archive", path);
        }

        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{path}: no such file", path);
        }

        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.SequentialScan);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new UnauthorizedAccessException($"{path}: permission denied", e);
        }
    }

    /// <summary>Prints "engine ova VERB: message" and maps the exception to an exit code.</summary>
    public static int Fail(string verb, Exception exception)
    {
        Console.Error.WriteLine($"engine ova {verb}: {Ova.DisplayText.Printable(exception.Message)}");
        return exception switch
        {
            Ova.OvaFormatException => ExitCodes.DataError,
            NotSupportedException => ExitCodes.Unavailable,
            FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException => ExitCodes.NoInput,
            _ => ExitCodes.Failure,
        };
    }
}
