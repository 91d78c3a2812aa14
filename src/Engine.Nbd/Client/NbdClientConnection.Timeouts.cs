
namespace Engine.Nbd.Client;

/// <summary>Request timeouts: a watchdog breaks the connection when a request waits too long for its reply.</summary>
internal sealed partial class NbdClientConnection
{
    /// <summary>A timer that checks the requests in flight a few times per timeout; null without a timeout.</summary>
    private Timer? StartWatchdog(TimeSpan? requestTimeout)
    {
        if (requestTimeout is not { } timeout)
        {
            return null;
        }

        var period = TimeSpan.FromMilliseconds(Math.Clamp(timeout.TotalMilliseconds / 4, 10, 1000));
        return new Timer(_ => CheckTimeouts(), null, period, period);
    }

    private void CheckTimeouts()
    {
        var limit = (long)_requestTimeout!.Value.TotalMilliseconds;
        var now = Environment.TickCount64;
        lock (_stateLock)
        {
            foreach (var request in _inFlight)
            {
                if (request is not null && now - request.StartedAt > limit)
                {
                    // A late reply could still land in a buffer the caller has reused: the only safe move is to drop the connection.
                    ThreadPool.UnsafeQueueUserWorkItem(_ => Break(new NbdConnectionException($"{_where}: {request.Command} at {request.Offset} got no reply within {_requestTimeout}")), null);
                    return;
                }
            }
        }
    }
}
