using System.Threading.Tasks.Sources;
using Engine.Blocks;
using Engine.Nbd.Protocol;

namespace Engine.Nbd.Client;

/// <summary>
/// A request in flight on one connection: where its reply data lands and how its caller is woken. Reused, so a
/// request allocates nothing; its cookie carries the slot index plus a generation that catches stale replies.
/// </summary>
/// <remarks>
/// The caller awaits <see cref="Task"/> itself, with no state machine between it and the reply, so the request gives
/// itself back (to its connection's free list and slot count) when that await reads the result: a READ's buffer is
/// the caller's again only then, and the slot must not be reused before.
/// </remarks>
internal sealed class PendingRequest : IValueTaskSource
{
    private readonly Action<PendingRequest> _release;
    private ManualResetValueTaskSourceCore<bool> _core;
    private int _consumed;

    /// <param name="slot">Index in the connection's in-flight table, carried in the cookie.</param>
    /// <param name="inlineCompletions">Run the awaiting code on the thread that completes the request.</param>
    /// <param name="release">Gives the request back to its connection once its result has been read.</param>
    public PendingRequest(int slot, bool inlineCompletions, Action<PendingRequest> release)
    {
        Slot = slot;
        _release = release;
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

    public void Prepare(ulong generation, NbdCommand command, long offset, long length, Memory<byte> destination, uint contextId, ExtentList? extents)
    {
        _core.Reset();
        Cookie = ((ulong)generation << 16) | (uint)Slot;
        Command = command;
        Offset = offset;
        Length = length;
        Destination = destination;
        ContextId = contextId;
        Extents = extents;
        Error = null;
        _consumed = 0;
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

    public void GetResult(short token)
    {
        if (_core.GetStatus(token) == ValueTaskSourceStatus.Pending)
        {
            // Someone blocks on the task before the reply is in (sync over async). Wait the way a Task would rather
            // than fail: the slot goes back when that wait reads the result, never while the request is on the wire.
            new ValueTask(this, token).AsTask().GetAwaiter().GetResult();
            return;
        }

        if (Interlocked.Exchange(ref _consumed, 1) != 0)
        {
            // A second read of the same result would give the slot back twice.
            throw new InvalidOperationException("an NBD request's task was awaited more than once");
        }

        try
        {
            _core.GetResult(token);
        }
        finally
        {
            _release(this);
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
