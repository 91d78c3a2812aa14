using System.Runtime.InteropServices;

namespace Engine.Cli;

/// <summary>
/// Turns SIGINT and SIGTERM into a cancellation token, so that long-running commands stop cleanly: servers exit 0,
/// work that is cut short (an import) cleans up and exits with <see cref="InterruptedExitCode"/> (130 or 143, as a
/// shell reports a process killed by the signal; PVE stops its tasks with SIGTERM).
/// </summary>
internal sealed class ShutdownSignal : IDisposable
{
    private readonly CancellationTokenSource _source = new();
    private readonly PosixSignalRegistration _interrupt;
    private readonly PosixSignalRegistration _terminate;
    private int _received;

    public ShutdownSignal()
    {
        _interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        _terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
    }

    public CancellationToken Token => _source.Token;

    /// <summary>The first signal received (the first one wins), or null.</summary>
    public PosixSignal? Received => _received == 0 ? null : (PosixSignal)_received;

    /// <summary>128 + the signal's number: 130 after SIGINT, 143 after SIGTERM (130 if none arrived).</summary>
    public int InterruptedExitCode => Received == PosixSignal.SIGTERM ? ExitCodes.Terminated : ExitCodes.Interrupted;

    /// <summary>The signal's name for messages.</summary>
    public string ReceivedName => Received == PosixSignal.SIGTERM ? "SIGTERM" : "SIGINT";

    public void Dispose()
    {
        _interrupt.Dispose();
        _terminate.Dispose();
        _source.Dispose();
    }

    private void OnSignal(PosixSignalContext context)
    {
        // Keep the process alive: the command shuts down on its own once the token fires.
        context.Cancel = true;
        Interlocked.CompareExchange(ref _received, (int)context.Signal, 0);
        _source.Cancel();
    }
}
