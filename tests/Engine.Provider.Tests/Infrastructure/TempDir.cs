namespace Engine.Provider.Tests.Infrastructure;

/// <summary>A private directory removed with everything in it.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir() => Path = Directory.CreateTempSubdirectory("engine-provider-test-").FullName;

    public string Path { get; }

    public string this[string name] => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // a FUSE mount that a failed test left behind; the test already reported the failure
        }
    }
}
