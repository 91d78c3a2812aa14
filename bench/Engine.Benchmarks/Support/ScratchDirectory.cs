namespace Engine.Benchmarks.Support;

/// <summary>A private directory for a benchmark's files and sockets, removed in [GlobalCleanup].</summary>
internal sealed class ScratchDirectory : IDisposable
{
    public ScratchDirectory(string purpose)
    {
        Path = Directory.CreateTempSubdirectory($"engine-bench-{purpose}-").FullName;
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
