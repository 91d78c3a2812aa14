namespace Engine.Fuzz.Support;

/// <summary>
/// One scratch directory per process for parsers that read files: inputs are written to the same few paths on
/// every run (a rewrite costs microseconds; a new file per run would fill the directory).
/// </summary>
internal static class Scratch
{
    private static readonly Lazy<string> Root = new(() =>
    {
        // tmpfs when there is one: thousands of rewrites a second should not reach a disk.
        var parent = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        RemoveLeftovers(parent);
        var path = Path.Combine(parent, $"engine-fuzz-{Environment.ProcessId}");
        Directory.CreateDirectory(path);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => TryDelete(path);
        return path;
    });

    /// <summary>The path of scratch file <paramref name="name"/> (its directory exists).</summary>
    public static string PathOf(string name) => Path.Combine(Root.Value, name);

    /// <summary>Writes <paramref name="bytes"/> to scratch file <paramref name="name"/>, replacing it; returns its path.</summary>
    public static string Write(string name, ReadOnlySpan<byte> bytes)
    {
        var path = PathOf(name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var file = File.Create(path);
        file.Write(bytes);
        return path;
    }

    /// <summary>afl-fuzz ends a harness with SIGKILL, so its exit handler never runs: the next process cleans up.</summary>
    private static void RemoveLeftovers(string parent)
    {
        foreach (var directory in Directory.EnumerateDirectories(parent, "engine-fuzz-*"))
        {
            if (int.TryParse(Path.GetFileName(directory).AsSpan("engine-fuzz-".Length), out var pid) && !Directory.Exists($"/proc/{pid}"))
            {
                TryDelete(directory);
            }
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
