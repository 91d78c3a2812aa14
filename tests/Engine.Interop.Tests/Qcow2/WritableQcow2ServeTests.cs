using Engine.Interop.Tests.Infrastructure;

namespace Engine.Interop.Tests.Qcow2;

/// <summary>
/// <c>engine serve IMAGE.qcow2</c> serves the guest disk writable: qemu's writes land in the image, and qemu reads them
/// back from the file; a kill in the middle of writing leaves an image qemu-img check finds clean or only leaking, with
/// everything flushed before the kill intact.
/// </summary>
public sealed class WritableQcow2ServeTests
{
    /// <summary>SIGKILL: no flush, no cleanup, as a power cut looks to the image file (the page cache aside).</summary>
    private const int Kill = 9;

    [Fact]
    public async Task Qemu_io_writes_through_engine_serve_land_in_the_qcow2()
    {
        using var dir = new TempDir();
        var image = dir["disk.qcow2"];
        (await Tool.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", image, "64M")).AssertSuccess();
        (await Qcow2Checks.QemuIoAsync(image, "qcow2", "write -P 0x33 8M 1M")).AssertSuccess();
        await using (var engine = await Qcow2Checks.ServeAsync(dir, image))
        {
            var io = await Qcow2Checks.QemuIoAsync(Qcow2Checks.Uri(dir), "raw",
                "write -P 0xab 1M 64k",
                "write -P 0xcd 3000k 10k",
                "write -P 0xef 8M 4k",
                "write -z 9M 64k",
                "discard 8256k 64k",
                "flush",
                "read -P 0xab 1M 64k",
                "read -P 0xcd 3000k 10k",
                "read -P 0x33 8196k 60k",
                "read -P 0 8256k 64k");
            io.AssertSuccess();
            Assert.DoesNotContain("Pattern verification failed", io.Stdout, StringComparison.Ordinal);
            Signals.Send(engine.Pid, Signals.Terminate);
            Assert.Equal(0, await engine.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        }

        await Qcow2Checks.AssertCleanAsync(image);
        var back = await Qcow2Checks.QemuIoAsync(image, "qcow2",
            "read -P 0xab 1M 64k",
            "read -P 0 1088k 1912k",
            "read -P 0xcd 3000k 10k",
            "read -P 0xef 8M 4k",
            "read -P 0x33 8196k 60k",
            "read -P 0 8256k 64k",
            "read -P 0x33 8320k 704k",
            "read -P 0 9M 64k");
        back.AssertSuccess();
        Assert.DoesNotContain("Pattern verification failed", back.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(150)]
    [InlineData(400)]
    [InlineData(900)]
    public async Task A_kill_mid_write_leaves_at_most_leaks_and_keeps_flushed_data(int killAfterMs)
    {
        using var dir = new TempDir();
        var image = dir["disk.qcow2"];
        (await Tool.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", image, "1G")).AssertSuccess();
        await using (var engine = await Qcow2Checks.ServeAsync(dir, image))
        {
            (await Qcow2Checks.QemuIoAsync(Qcow2Checks.Uri(dir), "raw", "write -P 0x5a 0 4M", "write -P 0x6b 900M 3M", "flush")).AssertSuccess();

            // Then a stream of allocating writes, trims and zeroing (and an occasional flush) that the kill interrupts.
            var commands = new List<string>();
            for (var i = 0; i < 400; i++)
            {
                var at = 8 + (i * 2);
                commands.Add(i % 7 == 3 ? $"discard {at}M 1M" : i % 11 == 5 ? $"write -z {at}M 512k" : $"write -P 0x{i % 200 + 1:x2} {at}M 1M");
                if (i % 50 == 49)
                {
                    commands.Add("flush");
                }
            }

            await using var writer = Tool.Start("qemu-io", ["-f", "raw", .. commands.SelectMany(c => new[] { "-c", c }), Qcow2Checks.Uri(dir)]);
            await Task.Delay(killAfterMs);
            Assert.False(engine.HasExited, engine.Describe());
            Signals.Send(engine.Pid, Kill);
            await engine.WaitForExitAsync(TimeSpan.FromSeconds(10));
        }

        var check = await Tool.RunAsync("qemu-img", "check", "-f", "qcow2", image);
        Assert.True(check.ExitCode is 0 or 3, $"qemu-img check found more than leaks\n{check}");
        Assert.DoesNotContain("ERROR", check.Stderr + check.Stdout, StringComparison.Ordinal);
        if (check.ExitCode == 3)
        {
            (await Tool.RunAsync("qemu-img", "check", "-q", "-r", "leaks", "-f", "qcow2", image)).AssertSuccess();
            await Qcow2Checks.AssertCleanAsync(image);
        }

        var back = await Qcow2Checks.QemuIoAsync(image, "qcow2", "read -P 0x5a 0 4M", "read -P 0x6b 900M 3M", "read -P 0 4M 4M");
        back.AssertSuccess();
        Assert.DoesNotContain("Pattern verification failed", back.Stdout, StringComparison.Ordinal);
    }
}
