namespace Engine.Nbd.Server.Handshake;

/// <summary>
/// One clock over a connection's whole handshake. A receive timeout only bounds the gap between two bytes, so a
/// client that trickles a byte now and then, or never reads the replies, would otherwise keep its connection (and
/// its thread) for ever. When the clock runs out it calls <c>expire</c>, which shuts the socket down and so wakes
/// the reader wherever it is blocked. Entering transmission stops the clock for good: once <see cref="TryStop"/>
/// has returned true, the clock never fires.
/// </summary>
internal sealed class HandshakeClock : IDisposable
{
    private readonly Lock _lock = new();
    private readonly Action _expire;
    private readonly Timer _timer;
    private State _state;

    public HandshakeClock(TimeSpan timeout, Action expire)
    {
        _expire = expire;
        _timer = new Timer(_ => Expire(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);

        // Armed only once the fields are set: a tiny timeout must not fire into a half-built clock.
        _timer.Change(timeout, Timeout.InfiniteTimeSpan);
    }

    private enum State
    {
        Running,
        Stopped,
        Expired,
    }

    /// <summary>
    /// Stops the clock before the reply that commits the client to transmission. False if it already ran out:
    /// the socket is being shut down, and the client must not be told it got in.
    /// </summary>
    public bool TryStop()
    {
        lock (_lock)
        {
            if (_state == State.Running)
            {
                _state = State.Stopped;
            }

            return _state == State.Stopped;
        }
    }

    public void Dispose() => _timer.Dispose();

    private void Expire()
    {
        lock (_lock)
        {
            if (_state != State.Running)
            {
                return;
            }

            _state = State.Expired;
        }

        _expire();
    }
}
