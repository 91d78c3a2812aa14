using System.Text;
using System.Text.Json;
using Engine.Provider.Protocol;

namespace Engine.Fuzz.Support;

/// <summary>
/// The plugin's side of a provider conversation, as the Perl plugin takes turns: the next request line is handed
/// to the host only once every earlier request has its response (a reply line to a call goes at once). Without
/// this the host would refuse lines for arriving while another request runs, depending on thread timing.
/// </summary>
internal sealed class TurnTakingStream(string text, ProtocolWriter writer) : ForwardOnlyStream
{
    private static readonly TimeSpan TurnTimeout = TimeSpan.FromSeconds(10);

    private readonly StringReader _lines = new(text);
    private long _expectedResponses;
    private byte[] _pending = [];
    private int _pendingOffset;

    public override int Read(Span<byte> buffer)
    {
        if (_pendingOffset == _pending.Length && !TakeNextLine())
        {
            return 0;
        }

        var count = Math.Min(buffer.Length, _pending.Length - _pendingOffset);
        _pending.AsSpan(_pendingOffset, count).CopyTo(buffer);
        _pendingOffset += count;
        return count;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Read(buffer.Span));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        Task.FromResult(Read(buffer.AsSpan(offset, count)));

    /// <summary>Waits for the host to answer every request so far, then stages the next line; false at the end.</summary>
    private bool TakeNextLine()
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
        if (line is null)
        {
            return false;
        }

        if (!string.IsNullOrWhiteSpace(line) && !IsReply(line))
        {
            _expectedResponses++;
        }

        _pending = Encoding.UTF8.GetBytes(line + "\n");
        _pendingOffset = 0;
        return true;
    }

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
