using System.CommandLine;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using Engine.Backup.Repository.Crypto;

namespace Engine.Cli.Commands;

/// <summary><c>engine key info FILE [--json]</c>: a key file's id, creation time and protection, without unlocking it.</summary>
internal static class KeyInfoCommand
{
    private static readonly CryptoJsonContext Json = new(new JsonSerializerOptions(CryptoJsonContext.Default.Options)
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    });

    public static Command Create()
    {
        var file = new Argument<string>("FILE") { Description = "The key file." };
        var json = RepositoryCommandSupport.JsonOption();
        var command = new Command("info", "Show a key file's id, creation time and whether a passphrase protects it (prints no key material).") { file, json };
        command.SetAction(parse =>
        {
            var path = parse.GetValue(file)!;
            return KeyCommandSupport.Run("engine key info", path, () =>
            {
                var info = RepositoryKeyFile.Read(path).Info;
                if (parse.GetValue(json))
                {
                    Console.Out.WriteLine(JsonSerializer.Serialize(info, Json.RepositoryKeyInfo));
                }
                else
                {
                    Console.Out.WriteLine($"file:    {info.File}");
                    Console.Out.WriteLine($"id:      {info.Id}");
                    Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"created: {info.Created.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss'Z'}"));
                    Console.Out.WriteLine(info.Wrapped
                        ? string.Create(CultureInfo.InvariantCulture, $"wrapped: yes ({info.Kdf}, {info.Iterations} iterations)")
                        : "wrapped: no (the file holds the raw key: keep it private)");
                }

                return ExitCodes.Ok;
            });
        });
        return command;
    }
}
