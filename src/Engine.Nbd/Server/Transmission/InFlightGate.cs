namespace Engine.Nbd.Server.Transmission;

/// <summary>
/// Back-pressure for one connection: bounds the requests in flight and the write payload bytes they hold. The
/// reader thread blocks in <see cref="Enter"/>; completions release from the writer thread.
/// </summary>
internal sealed class InFlightGate(int maxRequests, long maxBytes)
{
    private readonly object _lock = new();
    private int _requests;
    private long _bytes;
    private int _waiters;

    /// <summary>Waits for room for one more request holding <paramref name="bytes"/> bytes (a lone request always fits).</summary>
    public void Enter(long bytes)
    {
        lock (_lock)
        {
            while (_requests >= maxRequests || (_requests > 0 && _bytes + bytes > maxBytes))
            {
                _waiters++;
                Monitor.Wait(_lock);
                _waiters--;
            }

            _requests++;
            _bytes += bytes;
        }
    }

    public void Exit(long bytes)
    {
        lock (_lock)
        {
            _requests--;
            _bytes -= bytes;

            // Every request passes here: skip the wake-up call unless the reader is actually waiting.
            if (_waiters > 0)
            {
                Monitor.PulseAll(_lock);
            }
        }
    }

    /// <summary>Waits until no request is in flight.</summary>
    public void WaitIdle()
    {
        lock (_lock)
        {
            while (_requests > 0)
            {
                _waiters++;
                Monitor.Wait(_lock);
                _waiters--;
            }
        }
    }
}
