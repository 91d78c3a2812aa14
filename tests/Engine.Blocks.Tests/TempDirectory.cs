using Engine.Blocks.Native;

namespace Engine.Blocks.Tests;

/// <summary>A scratch directory under the system temp path (or another root), deleted on dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory(string? root = null)
    {
        Path = System.IO.Path.Combine(root ?? System.IO.Path.GetTempPath(), "engine-blocks-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    /// <summary>Creates a sparse file of <paramref name="size"/> bytes (ftruncate, like <c>truncate -s</c>).</summary>
    public string CreateSparseFile(long size, string name = "disk.img")
    {
        var path = System.IO.Path.Combine(Path, name);
        using var stream = File.Create(path);
        stream.SetLength(size);
        return path;
    }

    /// <summary>Bytes the filesystem has allocated to the file: st_blocks × 512, what <c>du --block-size=1</c> shows.</summary>
    public static long AllocatedBytes(string path)
    {
        using var handle = File.OpenHandle(path);
        Assert.Equal(0, LibC.FStat(handle, LibC.STATX_BLOCKS, out var stat));
        return (long)stat.Blocks * 512;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leaked temp directory must not fail the test that used it.
        }
    }
}
