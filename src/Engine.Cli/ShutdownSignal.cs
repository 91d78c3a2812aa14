namespace Engine.Cli;

/// <summary>Turns SIGINT and SIGTERM into a cancellation token, so that long-running commands stop cleanly with exit 0.</summary>
internal sealed class ShutdownSignal : IDisposable
{
    // A server's stop is its normal end: the signal's exit code is not wanted, only the token; the server bounds its
    // own orderly stop, so no forced exit.
    private readonly TerminationSignal _signal = new(forceExitAfter: null, CancellationToken.None);

    public CancellationToken Token => _signal.Token;

    public void Dispose() => _signal.Dispose();
}
