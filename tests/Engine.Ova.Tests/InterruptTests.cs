using Engine.Ova.Tests.Infrastructure;

namespace Engine.Ova.Tests;

/// <summary>
/// SIGINT and SIGTERM (PVE stops tasks with SIGTERM) in the middle of an import: the real process, fed slowly through
/// a pipe, exits with 130 or 143 and leaves nothing in the target folder.
/// </summary>
public sealed class InterruptTests
{
    private const int DiskBytes = 32 << 20;

    [Theory]
    [InlineData("INT", 130, false)]
    [InlineData("TERM", 143, false)]
    [InlineData("INT", 130, true)]
    [InlineData("TERM", 143, true)]
    public async Task SignalDuringImport_RemovesPartialFiles_AndExitsWith128PlusSignal(string signal, int exitCode, bool pipeStalled)
    {
        using var dir = new Scratch();
        var disk = new byte[DiskBytes];
        new Random(41).NextBytes(disk);
        var ova = new TarBuilder().File("vm.ovf", Descriptors.SingleDisk("disk.raw", DiskBytes, "http://en.wikipedia.org/wiki/Byte")).File("disk.raw", disk).Save(dir["vm.ova"]);
        await using var import = new PipedImport(ova, dir.Out, head: 4 << 20, stallAfterHead: pipeStalled);

        await WaitForPartialAsync(dir.Out, TimeSpan.FromSeconds(60));
        await import.SignalAsync(signal);
        var (code, output) = await import.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(code == exitCode, $"exit code {code}, expected {exitCode}\n{output}");
        dir.AssertOutEmpty();
        if (!pipeStalled)
        {
            // The import saw the cancellation itself. (Blocked in a read of a stalled pipe it cannot; TerminationSignal
            // then ends the process with the same code after its unwind grace, the files being gone already.)
            Assert.Contains($"stopped by SIG{signal}; partial outputs removed", output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task TargetFolderRemovedDuringImport_Exit66_ClearMessage()
    {
        using var dir = new Scratch();
        var target = Directory.CreateDirectory(dir["target"]).FullName;
        var ovf = Descriptors.SingleDisk("disk.raw", 1 << 20, "http://en.wikipedia.org/wiki/Byte");
        var ova = new TarBuilder().File("vm.ovf", ovf).File("disk.raw", new byte[1 << 20]).Save(dir["vm.ova"]);
        await using var import = new PipedImport(ova, target, head: 512 + (ovf.Length + 511) / 512 * 512, stallAfterHead: true);

        await Task.Delay(TimeSpan.FromSeconds(3)); // the import has checked the folder and waits for the disk's header
        Directory.Delete(target);
        import.Resume();
        var (code, output) = await import.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.True(code == 66, $"exit code {code}, expected 66\n{output}");
        // Normally "no longer exists" (at the disk); "does not exist" if the machine was too slow to start within 3 s.
        Assert.Matches("target folder .* (no longer exists|does not exist)", output);
        Assert.DoesNotContain("Could not find", output, StringComparison.Ordinal);
    }

    private static async Task WaitForPartialAsync(string folder, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (Directory.GetFiles(folder, "*.partial-*").Length == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, $"no .partial file appeared in {folder}");
            await Task.Delay(20);
        }
    }
}
