using System.Diagnostics;

namespace Engine.Provider.Tests.Infrastructure;

/// <summary>
/// One <c>qemu-nbd</c> serving one device of a VM under its PVE device name (<c>-x drive-scsi0</c>) with its dirty
/// bitmap (<c>-B</c>) on its own Unix socket: qemu-nbd serves one export per process, and PVE's API gives each
/// volume its own <c>nbd-path</c>, so one socket per device is what a provider can be handed.
/// </summary>
internal sealed class QemuNbdExport : IAsyncDisposable
{
    private readonly Process _process;

    private QemuNbdExport(Process process, string socket)
    {
        _process = process;
        Socket = socket;
    }

    public string Socket { get; }

    public static async Task<QemuNbdExport> StartAsync(string image, string device, string? bitmap, string socket)
    {
        var info = new ProcessStartInfo(Tool.Require("qemu-nbd")) { UseShellExecute = false, RedirectStandardError = true };
        foreach (var arg in (string[])["-k", socket, "-r", "-t", "--shared=8", "-f", "qcow2", "-x", device])
        {
            info.ArgumentList.Add(arg);
        }

        if (bitmap is not null)
        {
            info.ArgumentList.Add("-B");
            info.ArgumentList.Add(bitmap);
        }

        info.ArgumentList.Add(image);
        var process = Process.Start(info)!;
        var deadline = Stopwatch.StartNew();
        while (!File.Exists(socket))
        {
            if (process.HasExited || deadline.Elapsed > TimeSpan.FromSeconds(10))
            {
                var error = process.HasExited ? await process.StandardError.ReadToEndAsync() : "timed out";
                process.Kill();
                process.Dispose();
                Assert.Fail($"qemu-nbd for {image} did not start: {error}");
            }

            await Task.Delay(20);
        }

        return new QemuNbdExport(process, socket);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
        File.Delete(Socket);
    }
}
