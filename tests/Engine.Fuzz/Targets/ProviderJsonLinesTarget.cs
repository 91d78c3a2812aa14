using System.Text;
using System.Text.Json;
using Engine.Fuzz.Support;
using Engine.Provider.Protocol;

namespace Engine.Fuzz.Targets;

/// <summary>
/// The JSON-lines host behind <c>engine provider</c>: the input is the plugin's side of the conversation (requests
/// and replies, one per line, taking turns as the plugin does), served against <see cref="RecordingProvider"/> so
/// that only the protocol layer runs.
/// The host answers every failure with an error line, so a crash is seen differently: an exception thrown by the
/// .NET libraries (not by Engine's own checks) while a line was handled, whose raw text would reach PVE's task log.
/// </summary>
internal sealed class ProviderJsonLinesTarget : IFuzzTarget
{
    private static readonly AsyncLocal<bool> Active = new();
    private static Exception? _unexpected;

    static ProviderJsonLinesTarget() => AppDomain.CurrentDomain.FirstChanceException += (_, e) =>
    {
        if (Active.Value && !IsEngineRefusal(e.Exception))
        {
            Interlocked.CompareExchange(ref _unexpected, e.Exception, null);
        }
    };

    public string Name => "provider-json";

    public string Description => "engine provider JSON lines: requests, parameters and next-dirty-region replies";

    public void Run(ReadOnlySpan<byte> input)
    {
        var text = Encoding.UTF8.GetString(input);
        var writer = new ProtocolWriter(Stream.Null);
        var host = new ProviderProtocolHost(new RecordingProvider(), writer);
        _unexpected = null;
        Active.Value = true;
        try
        {
            host.RunAsync(new TurnTakingStream(text, writer), CancellationToken.None).GetAwaiter().GetResult();
        }
        finally
        {
            Active.Value = false;
        }

        if (Interlocked.Exchange(ref _unexpected, null) is { } unexpected)
        {
            throw new UnexpectedException($"a request failed with a .NET exception, not an Engine refusal: {unexpected.GetType().Name}: {unexpected.Message}", unexpected);
        }
    }

    /// <summary>Malformed JSON, or a refusal Engine's own code raised with its own message.</summary>
    private static bool IsEngineRefusal(Exception e) =>
        e is ProtocolException or JsonException || e.TargetSite?.DeclaringType?.Namespace?.StartsWith("Engine.", StringComparison.Ordinal) == true;
}
