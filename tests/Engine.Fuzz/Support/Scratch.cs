namespace Engine.Fuzz.Support;

/// <summary>
/// One scratch directory per process for parsers that read files: inputs are written to the same few paths on
/// every run (a rewrite costs microseconds; a new file per run would fill the directory).
/// </summary>
internal static class Scratch
{
    private static readonly Lazy<string> Root = new(() =>
    {
        var path = Path.Combine(Path.GetTempPath(), $"engine-fuzz-{Environment.ProcessId}");
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
