using System.Runtime.InteropServices;

namespace Engine.Cli;

/// <summary>
/// For commands that are stopped, not finished, by SIGINT or SIGTERM (PVE stops a task with SIGTERM): the signal
/// cancels <see cref="Token"/> so the command can remove what it half made, and then exits with the shell's code for
/// that signal (<see cref="ExitCode"/>: 130 or 143) rather than 0. The first signal wins.
/// </summary>
internal sealed class TerminationSignal : IDisposable
{
    private readonly CancellationTokenSource _source;
    private readonly PosixSignalRegistration _interrupt;
    private readonly PosixSignalRegistration _terminate;
    private int _signal;

    /// <summary>Starts listening; <paramref name="outer"/> (the parser's token) cancels <see cref="Token"/> too.</summary>
    public TerminationSignal(CancellationToken outer)
    {
        _source = CancellationTokenSource.CreateLinkedTokenSource(outer);
        _interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        _terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
    }

    /// <summary>Cancelled by the first SIGINT or SIGTERM.</summary>
    public CancellationToken Token => _source.Token;

    /// <summary>Whether a signal (or the outer token) stopped the command.</summary>
    public bool Stopped => _source.IsCancellationRequested;

    /// <summary>The signal's name, for the message.</summary>
    public string SignalName => Volatile.Read(ref _signal) == ExitCodes.Terminated ? "SIGTERM" : "SIGINT";

    /// <summary>The exit code for the signal received (130 when only the outer token fired: the parser's Ctrl+C).</summary>
    public int ExitCode => Volatile.Read(ref _signal) is var code and not 0 ? code : ExitCodes.Interrupted;

    /// <inheritdoc />
    public void Dispose()
    {
        _interrupt.Dispose();
        _terminate.Dispose();
        _source.Dispose();
    }

    private void OnSignal(PosixSignalContext context)
    {
        // Keep the process alive until the command has cleaned up; it then returns ExitCode.
        context.Cancel = true;
        Interlocked.CompareExchange(ref _signal, context.Signal == PosixSignal.SIGTERM ? ExitCodes.Terminated : ExitCodes.Interrupted, 0);
        try
        {
            _source.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The command finished and disposed this while the signal arrived: nothing is left to stop.
        }
    }
}
