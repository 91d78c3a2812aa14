using System.Text.Json;
using Engine.Provider.Protocol;

namespace Engine.Fuzz.Support;

/// <summary>
/// The plugin's side of a provider conversation, as the Perl plugin takes turns: the next request line is handed
/// to the host only once every earlier request has its response (a reply line to a call goes at once). Without
/// this the host would refuse lines for arriving while another request runs, depending on thread timing.
/// </summary>
internal sealed class TurnTakingReader(string text, ProtocolWriter writer) : TextReader
{
    private static readonly TimeSpan TurnTimeout = TimeSpan.FromSeconds(10);

    private readonly StringReader _lines = new(text);
    private long _expectedResponses;

    public override string? ReadLine()
    {
        var deadline = DateTime.UtcNow + TurnTimeout;
        var spin = new SpinWait();
        while (writer.ResponseCount < _expectedResponses)
        {
            // A request never answered would leave the plugin waiting for ever: that is the hang.
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"no response to request {_expectedResponses} after {TurnTimeout.TotalSeconds} s");
            }

            spin.SpinOnce();
        }

        var line = _lines.ReadLine();
        if (line is not null && !string.IsNullOrWhiteSpace(line) && !IsReply(line))
        {
            _expectedResponses++;
        }

        return line;
    }

    public override ValueTask<string?> ReadLineAsync(CancellationToken cancellationToken) => ValueTask.FromResult(ReadLine());

    public override Task<string?> ReadLineAsync() => Task.FromResult(ReadLine());

    /// <summary>Whether the host will route the line to a waiting call instead of answering it (its own test).</summary>
    private static bool IsReply(string line)
    {
        try
        {
            using var document = JsonDocument.Parse(line);
            return document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("reply", out _);
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
