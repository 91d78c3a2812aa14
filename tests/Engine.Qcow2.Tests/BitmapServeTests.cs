using Engine.Blocks;
using Engine.Qcow2.Bitmaps;
using Engine.Qcow2.Reading;
using static Engine.Qcow2.Tests.ReadingImages;

namespace Engine.Qcow2.Tests;

/// <summary>
/// <c>engine serve IMG.qcow2 --bitmap NAME</c> beside <c>qemu-nbd -r -A -B NAME</c>: nbdinfo maps every context the
/// same (base:allocation, qemu:dirty-bitmap:NAME, qemu:allocation-depth) and qemu-img finds the exports identical.
/// </summary>
public sealed class BitmapServeTests
{
    [Fact]
    public async Task Persistent_bitmap_reads_the_ranges_qemu_io_dirtied()
    {
        using var dir = new TempDir();
        var image = dir["img.qcow2"];
        await QemuImgAsync("create", "-q", "-f", "qcow2", image, "8M");
        await QemuImgAsync("bitmap", "--add", "-g", "64k", image, "b0");
        await QemuIoAsync(image, "qcow2", "write -P 1 0 4k", "write -P 2 100k 200k", "write -P 3 8323072 64k");
        await using var device = Qcow2BlockDevice.Open(image);
        var bitmap = PersistentBitmap.Load(device, "b0");
        Assert.Equal(64 * 1024, bitmap.Granularity);
        var dirty = (await MapAsync(device.Size, bitmap.GetExtentsAsync)).Where(e => e.Flags == PersistentBitmap.Dirty).ToList();
        Assert.Equal([new Extent(0, 320 * 1024, PersistentBitmap.Dirty), new Extent(8323072, 65536, PersistentBitmap.Dirty)], dirty);
        Assert.Throws<KeyNotFoundException>(() => PersistentBitmap.Load(device, "b1"));
    }

    [Theory]
    [InlineData("compat=1.1", "64k", "qcow2")]
    [InlineData("compat=1.1,cluster_size=4k", "512", "qcow2")]
    [InlineData("compat=1.1,extended_l2=on", "1M", "qcow2")]
    [InlineData("compat=1.1", "64k", "raw")]
    [InlineData("compat=1.1,extended_l2=on", "64k", "raw")]
    public async Task Served_image_maps_as_qemu_nbd_maps_it(string options, string granularity, string baseFormat)
    {
        using var dir = new TempDir();
        var source = WriteSource(dir, "src.raw", 48, seed: 21);
        var compress = baseFormat == "qcow2" ? new[] { "-c" } : [];
        await QemuImgAsync(["convert", .. compress, "-f", "raw", "-O", baseFormat, source, dir["base.img"]]);
        var image = dir["img.qcow2"];
        await QemuImgAsync("create", "-q", "-f", "qcow2", "-o", options, "-b", "base.img", "-F", baseFormat, image, "4M");
        await QemuImgAsync("bitmap", "--add", "-g", granularity, image, "b0");
        await QemuImgAsync("bitmap", "--add", image, "other");
        await QemuIoAsync(image, "qcow2", "write -P 7 4k 4k", "write -z 1M 128k", "write -P 8 2555904 300k", "write -P 9 4190208 4k");
        await QemuImgAsync("bitmap", "--disable", image, "other");

        await using var engine = await StartEngineAsync(dir["e.sock"], image, "--bitmap", "b0");
        await using var qemu = await StartQemuNbdAsync(dir["q.sock"], image, "-B", "b0");
        foreach (var context in new[] { "base:allocation", "qemu:dirty-bitmap:b0", "qemu:allocation-depth" })
        {
            var ours = await NbdInfoMapAsync(dir["e.sock"], context);
            Assert.Equal(await NbdInfoMapAsync(dir["q.sock"], context), ours);
            Assert.NotEmpty(ours);
        }

        (await Tool.RunAsync("qemu-img", "compare", "-f", "raw", "-F", "raw", Uri(dir["e.sock"]), Uri(dir["q.sock"]))).AssertSuccess();
    }

    [Fact]
    public async Task Missing_bitmap_raw_file_and_hostile_image_are_refused_clearly()
    {
        using var dir = new TempDir();
        var image = dir["img.qcow2"];
        await QemuImgAsync("create", "-q", "-f", "qcow2", image, "1M");
        var missing = await EngineCli.RunAsync("serve", image, "--socket", dir["a.sock"], "--bitmap", "nope");
        missing.AssertFailure(66, $"{image}: no persistent bitmap named 'nope'").AssertNoRuntimeText();

        await QemuImgAsync("create", "-q", "-f", "raw", dir["disk.raw"], "1M");
        (await EngineCli.RunAsync("serve", dir["disk.raw"], "--socket", dir["b.sock"], "--bitmap", "b0"))
            .AssertFailure(64, "--bitmap b0: FILE is not a qcow2 image").AssertNoRuntimeText();

        using (var file = new FileStream(image, FileMode.Open))
        {
            file.Position = 99;
            file.WriteByte(9);
        }

        (await EngineCli.RunAsync("serve", image, "--socket", dir["c.sock"]))
            .AssertFailure(65, $"{image}: at offset 96: refcount_order 9 is out of range").AssertNoRuntimeText();

        await QemuImgAsync("create", "-q", "-u", "-f", "qcow2", "-b", "gone.qcow2", "-F", "qcow2", dir["top.qcow2"], "1M");
        (await EngineCli.RunAsync("serve", dir["top.qcow2"], "--socket", dir["d.sock"]))
            .AssertFailure(65, "backing file 'gone.qcow2' is not followed: the image's format was probed, not given; pass --format qcow2 to follow 'gone.qcow2'").AssertNoRuntimeText();
        (await EngineCli.RunAsync("serve", "--format", "qcow2", dir["top.qcow2"], "--socket", dir["d.sock"]))
            .AssertFailure(66, $"{dir["top.qcow2"]}: backing file 'gone.qcow2' ({dir["gone.qcow2"]}): no such file").AssertNoRuntimeText();
    }

    private static string Uri(string socket) => $"nbd+unix:///?socket={socket}";

    private static async Task<string> NbdInfoMapAsync(string socket, string context)
    {
        var result = await Tool.RunAsync("nbdinfo", $"--map={context}", Uri(socket));
        result.AssertSuccess();
        return result.Stdout;
    }

    private static async Task<RunningTool> StartEngineAsync(string socket, string image, params string[] flags)
    {
        var engine = EngineCli.Start(["serve", "--format", "qcow2", image, "--socket", socket, .. flags]);
        await engine.WaitUntilAsync(() => engine.Stdout.Contains("nbd+unix://", StringComparison.Ordinal), TimeSpan.FromSeconds(60), "the URI on stdout");
        return engine;
    }

    private static async Task<RunningTool> StartQemuNbdAsync(string socket, string image, params string[] flags)
    {
        var qemu = Tool.Start("qemu-nbd", ["-r", "-t", "-A", "-f", "qcow2", "--socket", socket, .. flags, image]);
        await qemu.WaitUntilAsync(() => File.Exists(socket), TimeSpan.FromSeconds(30), "qemu-nbd's socket");
        return qemu;
    }
}
