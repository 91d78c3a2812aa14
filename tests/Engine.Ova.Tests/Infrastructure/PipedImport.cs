using System.Diagnostics;
using System.Text;

namespace Engine.Ova.Tests.Infrastructure;

/// <summary>
/// <c>engine ova import - --to DIR</c> as a real process, fed through its stdin pipe at a chosen pace, so a test can
/// signal it in the middle of a disk.
/// </summary>
internal sealed class PipedImport : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Task<string> _stderr;
    private readonly Task<string> _stdout;
    private readonly CancellationTokenSource _stopFeeding = new();
    private readonly TaskCompletionSource _resume = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _feeder;

    /// <param name="ova">The archive to feed.</param>
    /// <param name="target">The --to folder.</param>
    /// <param name="head">Bytes written at once (enough to start the disk).</param>
    /// <param name="stallAfterHead">Stop feeding after the head and keep the pipe open (the import blocks in a read) until <see cref="Resume"/>.</param>
    public PipedImport(string ova, string target, int head, bool stallAfterHead)
    {
        var info = new ProcessStartInfo(Tool.Require("dotnet"))
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var arg in new[] { EngineCli.Dll, "ova", "import", "-", "--to", target })
        {
            info.ArgumentList.Add(arg);
        }

        _process = Process.Start(info)!;
        _stdout = _process.StandardOutput.ReadToEndAsync();
        _stderr = _process.StandardError.ReadToEndAsync();
        _feeder = FeedAsync(File.ReadAllBytes(ova), head, stallAfterHead, _stopFeeding.Token);
    }

    public int Pid => _process.Id;

    /// <summary>Feeds the rest after a stall.</summary>
    public void Resume() => _resume.TrySetResult();

    /// <summary>Sends a signal with kill(1).</summary>
    public async Task SignalAsync(string signal) => (await Tool.RunAsync("kill", "-s", signal, Pid.ToString(System.Globalization.CultureInfo.InvariantCulture))).AssertSuccess();

    /// <summary>Waits for the exit; returns the code and stderr. Fails if it takes longer than <paramref name="timeout"/>.</summary>
    public async Task<(int ExitCode, string Stderr)> WaitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            Assert.Fail($"engine ova import did not exit within {timeout.TotalSeconds} s of the signal");
        }

        await _stopFeeding.CancelAsync();
        return (_process.ExitCode, await _stderr + await _stdout);
    }

    public async ValueTask DisposeAsync()
    {
        await _stopFeeding.CancelAsync();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        try
        {
            await _feeder;
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            // The process is gone; the pipe broke.
        }

        _process.Dispose();
        _stopFeeding.Dispose();
    }

    private async Task FeedAsync(byte[] archive, int head, bool stall, CancellationToken cancellationToken)
    {
        var input = _process.StandardInput.BaseStream;
        try
        {
            await input.WriteAsync(archive.AsMemory(0, head), cancellationToken);
            await input.FlushAsync(cancellationToken);
            if (stall)
            {
                await _resume.Task.WaitAsync(cancellationToken);
            }

            // Slowly: 64 KiB every 20 ms, so the import is still running when the signal comes.
            for (var offset = head; offset < archive.Length; offset += 64 << 10)
            {
                await input.WriteAsync(archive.AsMemory(offset, Math.Min(64 << 10, archive.Length - offset)), cancellationToken);
                await input.FlushAsync(cancellationToken);
                await Task.Delay(20, cancellationToken);
            }

            input.Close();
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            // Stopped by the test or by the process exiting.
        }
    }
}
