namespace Engine.Nbd.Transport;

/// <summary>The range a handshake timeout may take, on the server and the client alike.</summary>
internal static class HandshakeTimeouts
{
    // Timers and CancelAfter take at most uint.MaxValue - 1 ms (about 49.7 days); beyond that every connection
    // would fail with an exception of the runtime's instead of at construction.
    private static readonly TimeSpan Longest = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is not positive, or above 49 days, and not infinite.</exception>
    public static void Check(TimeSpan timeout, string paramName)
    {
        if (timeout != Timeout.InfiniteTimeSpan && (timeout <= TimeSpan.Zero || timeout > Longest))
        {
            throw new ArgumentOutOfRangeException(paramName, timeout, "HandshakeTimeout must be positive and at most 49 days, or infinite");
        }
    }
}
