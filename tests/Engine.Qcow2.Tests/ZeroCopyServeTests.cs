using static Engine.Qcow2.Tests.ReadingImages;

namespace Engine.Qcow2.Tests;

/// <summary>
/// <c>engine serve --format qcow2 --read-only IMG.qcow2</c> sends plain data clusters with sendfile(2) from the image at the offsets
/// the tables give, and reads everything else (compressed, zero, backing, unallocated) through the reader: what
/// nbdcopy and qemu-img read over NBD is exactly the guest disk qemu-img reads from the file.
/// </summary>
public sealed class ZeroCopyServeTests
{
    [Theory]
    [InlineData("compat=1.1")]
    [InlineData("compat=1.1,cluster_size=4k")]
    public async Task Served_clusters_of_every_kind_read_as_qemu_reads_them(string options)
    {
        using var dir = new TempDir();
        var source = WriteSource(dir, "src.raw", 48, seed: 5);
        await QemuImgAsync("convert", "-c", "-f", "raw", "-O", "qcow2", source, dir["base.qcow2"]);
        var image = dir["img.qcow2"];
        await QemuImgAsync("create", "-q", "-f", "qcow2", "-o", options, "-b", "base.qcow2", "-F", "qcow2", image, "8M");

        // Data runs out of guest order (so host clusters are not where the guest offsets are), a zeroed range, a
        // partial cluster over the compressed backing file, and a tail past the backing file's end left unallocated.
        await QemuIoAsync(image, "qcow2", "write -P 3 6M 1M", "write -P 4 0 1M", "write -P 5 2M 512k", "write -z 1M 256k", "write -P 6 2700k 3k");

        var socket = dir["e.sock"];
        await using var engine = EngineCli.Start(["serve", image, "--format", "qcow2", "--read-only", "--socket", socket]);
        await engine.WaitUntilAsync(() => engine.Stdout.Contains("nbd+unix://", StringComparison.Ordinal), TimeSpan.FromSeconds(60), "the URI on stdout");
        var uri = $"nbd+unix:///?socket={socket}";
        (await Tool.RunAsync("qemu-img", "compare", "-f", "raw", "-F", "qcow2", uri, image)).AssertSuccess();

        // nbdcopy reads in 256 KiB requests over several connections, each split by the extents into data and holes.
        (await Tool.RunAsync("nbdcopy", uri, dir["copy.raw"])).AssertSuccess();
        (await Tool.RunAsync("qemu-img", "compare", "-f", "raw", "-F", "qcow2", dir["copy.raw"], image)).AssertSuccess();
    }
}
