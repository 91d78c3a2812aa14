namespace Engine.Tests.Shared;

/// <summary>
/// Starts server processes from one thread that lives as long as the test run. nbdkit sets PR_SET_PDEATHSIG(SIGTERM),
/// and the kernel sends it when the *thread* that forked the process exits: a server started from a thread-pool
/// thread dies, at random, when that thread retires.
/// </summary>
internal static class Spawner
{
    private static readonly System.Collections.Concurrent.BlockingCollection<Action> Work = [];

    static Spawner()
    {
        var thread = new Thread(() =>
        {
            foreach (var action in Work.GetConsumingEnumerable())
            {
                action();
            }
        })
        { IsBackground = true, Name = "server spawner" };
        thread.Start();
    }

    public static Task<RunningTool> StartAsync(string tool, IReadOnlyList<string> args)
    {
        var result = new TaskCompletionSource<RunningTool>(TaskCreationOptions.RunContinuationsAsynchronously);
        Work.Add(() =>
        {
            try
            {
                result.SetResult(Tool.Start(tool, args));
            }
            catch (Exception e)
            {
                result.SetException(e);
            }
        });
        return result.Task;
    }
}
