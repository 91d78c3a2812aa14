using System.Diagnostics;

namespace Engine.Provider.Tests.Infrastructure;

/// <summary>An NBD export as a local file through nbdfuse, as PVE makes the file-handle mechanism's snapshot access.</summary>
internal sealed class NbdFuseFile : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _mountPoint;

    private NbdFuseFile(Process process, string mountPoint, string path)
    {
        _process = process;
        _mountPoint = mountPoint;
        Path = path;
    }

    public string Path { get; }

    public static async Task<NbdFuseFile> MountAsync(string mountPoint, string uri, long size)
    {
        Directory.CreateDirectory(mountPoint);
        var path = System.IO.Path.Combine(mountPoint, "disk.raw");
        var info = new ProcessStartInfo(Tool.Require("nbdfuse")) { UseShellExecute = false, RedirectStandardError = true };
        foreach (var arg in (string[])["-r", path, uri])
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info)!;
        var deadline = Stopwatch.StartNew();
        while (!(File.Exists(path) && new FileInfo(path).Length == size))
        {
            if (process.HasExited || deadline.Elapsed > TimeSpan.FromSeconds(10))
            {
                var error = process.HasExited ? await process.StandardError.ReadToEndAsync() : "timed out";
                process.Kill();
                process.Dispose();
                Assert.Fail($"nbdfuse {path} {uri} did not mount: {error}");
            }

            await Task.Delay(20);
        }

        return new NbdFuseFile(process, mountPoint, path);
    }

    public async ValueTask DisposeAsync()
    {
        (await Tool.RunAsync("fusermount3", "-u", _mountPoint)).AssertSuccess();
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
