namespace Engine.Nbd.Server.Transmission;

/// <summary>
/// A test hook that keeps the README's promise checkable: while <see cref="Enabled"/>, it adds up what the threads
/// doing request work allocate (<see cref="GC.GetAllocatedBytesForCurrentThread"/> read before and after each unit:
/// one request read and accepted by the connection's reader, one dispatched request run on a pool thread, one reply
/// sent by the writer). Other threads' allocations (the test host's, the runtime's) never reach it, so zero per
/// request can be asserted exactly. Off, it costs one static read per unit of work.
/// </summary>
internal static class RequestAllocationMeter
{
    private static long _bytes;
    private static volatile bool _enabled;

    /// <summary>Whether units of work are measured; set by tests around a steady-state run.</summary>
    public static bool Enabled
    {
        get => _enabled;
        set => _enabled = value;
    }

    /// <summary>Bytes allocated by measured units since the last <see cref="Reset"/>.</summary>
    public static long Bytes => Interlocked.Read(ref _bytes);

    public static void Reset() => Interlocked.Exchange(ref _bytes, 0);

    /// <summary>Starts a unit of work on this thread: a mark for <see cref="End"/>, or -1 when not measuring.</summary>
    public static long Begin() => _enabled ? GC.GetAllocatedBytesForCurrentThread() : -1;

    /// <summary>Ends the unit <paramref name="mark"/> started on this same thread.</summary>
    public static void End(long mark)
    {
        if (mark >= 0)
        {
            Interlocked.Add(ref _bytes, GC.GetAllocatedBytesForCurrentThread() - mark);
        }
    }
}
