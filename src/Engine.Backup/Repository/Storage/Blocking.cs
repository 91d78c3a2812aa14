namespace Engine.Backup.Repository.Storage;

/// <summary>
/// The one place a synchronous caller waits for an asynchronous object-store call (the repository facade's snapshot
/// calls, <see cref="IDisposable.Dispose"/>, and a restore's synchronous chunk reads). Store calls never need the
/// caller's synchronization context (they use <c>ConfigureAwait(false)</c> throughout), so a call that completes at
/// once costs nothing, and one that does not is waited for on an event kept per thread: a restore reading chunk after
/// chunk allocates nothing for the wait.
/// </summary>
internal static class Blocking
{
    [ThreadStatic]
    private static Waiter? _waiter;

    /// <summary>Runs <paramref name="call"/> off the caller's synchronization context and waits for its result.</summary>
    public static T Wait<T>(Func<Task<T>> call) => Task.Run(call).GetAwaiter().GetResult();

    /// <summary>Waits for <paramref name="pending"/> (started by the caller) and returns its result or throws its exception.</summary>
    public static T Wait<T>(ValueTask<T> pending)
    {
        if (!pending.IsCompleted)
        {
            var waiter = _waiter ??= new Waiter();
            waiter.Done.Reset();
            pending.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(waiter.Signal);
            waiter.Done.Wait();
        }

        return pending.GetAwaiter().GetResult();
    }

    private sealed class Waiter
    {
        public Waiter() => Signal = Done.Set;

        public ManualResetEventSlim Done { get; } = new();

        public Action Signal { get; }
    }
}
