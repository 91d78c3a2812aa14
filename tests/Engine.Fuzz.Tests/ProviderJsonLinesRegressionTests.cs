using System.Text;
using System.Text.Json;
using Engine.Fuzz.Support;
using Engine.Fuzz.Targets;
using Engine.Provider.Protocol;

namespace Engine.Fuzz.Tests;

/// <summary>Requests whose parameters once failed with raw .NET exception text in the error PVE logs.</summary>
public sealed class ProviderJsonLinesRegressionTests
{
    [Fact]
    public async Task Start_time_out_of_range_is_refused_naming_the_parameter()
    {
        var errors = await ErrorsFor("Regressions/provider-json/start-time-out-of-range.bin");

        Assert.Collection(
            errors,
            e => Assert.StartsWith("parameter 'start-time' is 99999999999999999 epoch seconds, outside 946684800 (2000-01-01) to ", e, StringComparison.Ordinal),
            e => Assert.StartsWith("parameter 'start-time' is -1 epoch seconds, outside 946684800 (2000-01-01) to ", e, StringComparison.Ordinal));
    }

    /// <summary>The error messages the host answers a stored conversation with, in order.</summary>
    private static async Task<List<string>> ErrorsFor(string file)
    {
        var output = new MemoryStream();
        var writer = new ProtocolWriter(output);
        var host = new ProviderProtocolHost(new RecordingProvider(), writer);
        await host.RunAsync(new TurnTakingStream(Encoding.UTF8.GetString(FuzzInputs.Read(file)), writer), CancellationToken.None);
        var errors = new List<string>();
        foreach (var line in Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var document = JsonDocument.Parse(line);
            if (document.RootElement.TryGetProperty("error", out var error))
            {
                errors.Add(error.GetProperty("message").GetString()!);
            }
        }

        return errors;
    }
}
