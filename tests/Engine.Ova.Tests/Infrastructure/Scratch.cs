namespace Engine.Ova.Tests.Infrastructure;

/// <summary>A temporary folder removed after the test, with an empty "out" folder for import targets.</summary>
internal sealed class Scratch : IDisposable
{
    public Scratch()
    {
        Root = Directory.CreateTempSubdirectory("ova-test-").FullName;
        Out = Directory.CreateDirectory(Path.Combine(Root, "out")).FullName;
    }

    public string Root { get; }

    public string Out { get; }

    public string this[string name] => Path.Combine(Root, name);

    /// <summary>Fails unless the import target holds nothing at all (no output, no temporary file).</summary>
    public void AssertOutEmpty()
    {
        var left = Directory.GetFileSystemEntries(Out);
        Assert.True(left.Length == 0, $"files left behind in the target: {string.Join(", ", left)}");
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}
