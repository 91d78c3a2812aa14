using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using Engine.Sources;

namespace Engine.Provider.Protocol;

/// <summary>
/// Calls from the provider back into the Perl plugin while a request runs: <c>{"call":{"id":"r7",...}}</c> out,
/// <c>{"reply":{"id":"r7",...}}</c> in on the request stream, routed here by the host's reader loop. Each call
/// waits for its own reply; a reply nobody waits for (its call was given up) is dropped.
/// </summary>
internal sealed class PeerCalls(ProtocolWriter writer)
{
    /// <summary>Most regions one reply may carry; a bound on what one reply line costs.</summary>
    public const int MaxRegionsPerReply = 1 << 16;

    private readonly ConcurrentDictionary<string, TaskCompletionSource<DirtyRegionBatch>> _pending = new(StringComparer.Ordinal);
    private long _nextId;
    private Exception? _closed;

    /// <summary>Asks the plugin to call <paramref name="device"/>'s <c>next-dirty-region</c> up to <paramref name="max"/> times.</summary>
    public async Task<DirtyRegionBatch> NextDirtyRegionAsync(string device, int max, CancellationToken cancellationToken)
    {
        var id = "r" + Interlocked.Increment(ref _nextId).ToString(CultureInfo.InvariantCulture);
        var reply = new TaskCompletionSource<DirtyRegionBatch>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = reply;
        try
        {
            if (Volatile.Read(ref _closed) is { } closed)
            {
                throw new ProtocolException($"{device}: next-dirty-region: {closed.Message}", closed);
            }

            writer.Call(id, "next-dirty-region", device, max);
            return await reply.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    /// <summary>Completes the call a reply line answers; false when no call waits for it.</summary>
    /// <exception cref="ProtocolException">The reply is malformed (the waiting call fails with it too).</exception>
    public bool Complete(JsonElement reply)
    {
        if (reply.ValueKind != JsonValueKind.Object || !reply.TryGetProperty("id", out var idElement) || idElement.ValueKind != JsonValueKind.String)
        {
            throw new ProtocolException("a reply needs a string 'id'");
        }

        if (!_pending.TryRemove(idElement.GetString()!, out var waiting))
        {
            return false;
        }

        if (reply.TryGetProperty("error", out var error) && error.ValueKind != JsonValueKind.Null)
        {
            // The plugin's closure died: the call fails with its message, the stream is fine.
            waiting.TrySetException(new ProtocolException(error.ValueKind == JsonValueKind.String ? error.GetString()! : error.GetRawText()));
            return true;
        }

        try
        {
            waiting.TrySetResult(ParseBatch(reply));
        }
        catch (ProtocolException e)
        {
            waiting.TrySetException(e);
            throw;
        }

        return true;
    }

    /// <summary>Fails every waiting call and every later one: the request stream ended.</summary>
    public void Close(Exception reason)
    {
        Volatile.Write(ref _closed, reason);
        foreach (var (id, waiting) in _pending)
        {
            if (_pending.TryRemove(id, out _))
            {
                waiting.TrySetException(reason);
            }
        }
    }

    private static DirtyRegionBatch ParseBatch(JsonElement reply)
    {
        var end = new ProtocolParams(reply).RequiredBoolean("end");
        if (!reply.TryGetProperty("regions", out var regions) || regions.ValueKind != JsonValueKind.Array)
        {
            throw new ProtocolException("a next-dirty-region reply needs a 'regions' array");
        }

        var count = regions.GetArrayLength();
        if (count > MaxRegionsPerReply)
        {
            throw new ProtocolException($"a next-dirty-region reply carries {count} regions, more than {MaxRegionsPerReply}");
        }

        var list = new List<SourceRange>(count);
        foreach (var pair in regions.EnumerateArray())
        {
            if (pair.ValueKind != JsonValueKind.Array || pair.GetArrayLength() != 2)
            {
                throw new ProtocolException($"a dirty region must be [offset, length], got {pair.GetRawText()}");
            }

            var offset = ProtocolParams.ToInt64("offset", pair[0], -1);
            var length = ProtocolParams.ToInt64("length", pair[1], -1);
            if (offset < 0 || length < 0)
            {
                throw new ProtocolException($"a dirty region must be [offset, length] of non-negative integers, got {pair.GetRawText()}");
            }

            list.Add(new SourceRange(offset, length));
        }

        return new DirtyRegionBatch(list, end);
    }
}
