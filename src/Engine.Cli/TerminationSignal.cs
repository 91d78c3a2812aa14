using System.Runtime.InteropServices;

namespace Engine.Cli;

/// <summary>
/// For commands that are stopped, not finished, by SIGINT or SIGTERM (PVE stops a task with SIGTERM): the signal
/// cancels <see cref="Token"/> so the command can remove what it half made, and then exits with the shell's code for
/// that signal (<see cref="ExitCode"/>: 130 or 143) rather than 0. The first signal wins. A command stuck where
/// cancellation cannot reach (a read from a stalled pipe) is ended after <c>forceExitAfter</c>, by which time the
/// cleanup registered on the token has run; a second signal ends the process at once.
/// </summary>
internal sealed class TerminationSignal : IDisposable
{
    /// <summary>
    /// How long a stopped restore or import may take to return once its cleanup ran: it only has to unwind, so a
    /// command still running after this is stuck where cancellation cannot reach.
    /// </summary>
    public static readonly TimeSpan UnwindGrace = TimeSpan.FromSeconds(5);

    private readonly CancellationTokenSource _source;
    private readonly PosixSignalRegistration _interrupt;
    private readonly PosixSignalRegistration _terminate;
    private readonly TimeSpan? _forceExitAfter;
    private Timer? _forceExit;
    private int _signal;

    /// <summary>
    /// Starts listening; <paramref name="outer"/> (the parser's token) cancels <see cref="Token"/> too. After a signal
    /// the process exits with <see cref="ExitCode"/> once <paramref name="forceExitAfter"/> has passed (null: never).
    /// </summary>
    public TerminationSignal(TimeSpan? forceExitAfter, CancellationToken outer)
    {
        _forceExitAfter = forceExitAfter;
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
        _forceExit?.Dispose();
        _interrupt.Dispose();
        _terminate.Dispose();
        _source.Dispose();
    }

    private void OnSignal(PosixSignalContext context)
    {
        var code = context.Signal == PosixSignal.SIGTERM ? ExitCodes.Terminated : ExitCodes.Interrupted;
        if (Interlocked.CompareExchange(ref _signal, code, 0) != 0)
        {
            // A second signal: whoever sends it wants the process gone now, cleanup or not.
            return;
        }

        // Keep the process alive until the command has cleaned up; it then returns ExitCode.
        context.Cancel = true;
        try
        {
            _source.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The command finished and disposed this while the signal arrived: nothing is left to stop.
            return;
        }
        catch (AggregateException)
        {
            // A cleanup callback failed (a partial file that could not be deleted); the command reports its own state.
        }

        if (_forceExitAfter is { } delay)
        {
            _forceExit = new Timer(_ => Environment.Exit(ExitCode), null, delay, Timeout.InfiniteTimeSpan);
        }
    }
}
