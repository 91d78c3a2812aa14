using System.Threading.Tasks.Sources;
using Engine.Blocks;
using Engine.Nbd.Protocol;

namespace Engine.Nbd.Client;

/// <summary>
/// A request in flight on one connection: where its reply data lands and how its caller is woken. Reused, so a
/// request allocates nothing; its cookie carries the slot index plus a generation that catches stale replies.
/// </summary>
internal sealed class PendingRequest : IValueTaskSource
{
    private readonly bool _inlineCompletions;
    private ManualResetValueTaskSourceCore<bool> _core;

    public PendingRequest(int slot, bool inlineCompletions)
    {
        Slot = slot;
        _inlineCompletions = inlineCompletions;
        _core = new ManualResetValueTaskSourceCore<bool> { RunContinuationsAsynchronously = !inlineCompletions };
    }

    public int Slot { get; }

    public ulong Cookie { get; private set; }

    public NbdCommand Command { get; private set; }

    public long Offset { get; private set; }

    public long Length { get; private set; }

    /// <summary>READ: where the data goes, straight from the socket.</summary>
    public Memory<byte> Destination { get; private set; }

    /// <summary>BLOCK_STATUS: the context whose extents are wanted, and where they go.</summary>
    public uint ContextId { get; private set; }

    public ExtentList? Extents { get; private set; }

    /// <summary>First error chunk or simple error seen; the request fails with it when done.</summary>
    public Exception? Error { get; set; }

    public long StartedAt { get; private set; }

    public ValueTask Task => new(this, _core.Version);

    public void Prepare(ulong generation, in NbdRequest request)
    {
        _core.Reset();
        _core.RunContinuationsAsynchronously = !(_inlineCompletions || request.CompleteInline);
        Cookie = ((ulong)generation << 16) | (uint)Slot;
        Command = request.Command;
        Offset = request.Offset;
        Length = request.Length;
        Destination = request.Destination;
        ContextId = request.ContextId;
        Extents = request.Extents;
        Error = null;
        StartedAt = Environment.TickCount64;
    }

    public void Complete()
    {
        var error = Error;
        Destination = default;
        Extents = null;
        if (error is null)
        {
            _core.SetResult(true);
        }
        else
        {
            _core.SetException(error);
        }
    }

    public void GetResult(short token) => _core.GetResult(token);

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
