namespace Engine.Tests.Shared;

/// <summary>A fresh directory with a short path under /tmp (Unix socket paths must stay under 108 bytes).</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = "/tmp/eit-" + Guid.NewGuid().ToString("N")[..10];
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    /// <summary>The socket path for the in-process server.</summary>
    public string Socket => this["s.sock"];

    public string this[string name] => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // a FUSE mount that failed to unmount; the test has already reported it
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
