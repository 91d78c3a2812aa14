namespace Engine.Fuzz.Tests;

/// <summary>The stored fuzz inputs (seed corpora and regressions) beside the test assembly, and how to run one.</summary>
internal static class FuzzInputs
{
    /// <summary>Longer than any input takes even on a loaded machine; a run that exceeds it is a hang.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    /// <summary>(target, file relative to the output folder) for every file in <paramref name="folder"/>/TARGET/.</summary>
    public static TheoryData<string, string> Under(string folder)
    {
        var data = new TheoryData<string, string>();
        var root = Path.Combine(AppContext.BaseDirectory, folder);
        foreach (var target in Directory.EnumerateDirectories(root).Order(StringComparer.Ordinal))
        {
            foreach (var file in Directory.EnumerateFiles(target).Order(StringComparer.Ordinal))
            {
                data.Add(Path.GetFileName(target), Path.GetRelativePath(AppContext.BaseDirectory, file));
            }
        }

        return data;
    }

    /// <summary>The bytes of a stored input (cut to what the fuzzer feeds).</summary>
    public static byte[] Read(string relativePath)
    {
        var bytes = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, relativePath));
        return bytes.Length <= FuzzTargets.MaxInputBytes ? bytes : bytes[..FuzzTargets.MaxInputBytes];
    }

    /// <summary>Runs <paramref name="relativePath"/> through target <paramref name="name"/>: it must return, cleanly, within <see cref="Timeout"/>.</summary>
    public static void Replay(string name, string relativePath)
    {
        var target = FuzzTargets.Find(name);
        Assert.True(target is not null, $"no fuzz target '{name}' for {relativePath}");
        var input = Read(relativePath);
        var run = Task.Factory.StartNew(() => target.Run(input), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        Assert.True(run.Wait(Timeout), $"{name}: {relativePath} hangs (still running after {Timeout.TotalSeconds} s)");
    }
}
