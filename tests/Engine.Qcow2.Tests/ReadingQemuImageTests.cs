using Engine.Blocks;
using Engine.Qcow2.Format;
using Engine.Qcow2.Reading;
using static Engine.Qcow2.Tests.ReadingImages;

namespace Engine.Qcow2.Tests;

/// <summary>Images qemu-img and qemu-io make read byte-exact, with the extents and allocation depth qemu reports.</summary>
public sealed class ReadingQemuImageTests
{
    [Theory]
    [InlineData("compat=1.1")]
    [InlineData("compat=0.10")]
    [InlineData("compat=1.1,cluster_size=512")]
    [InlineData("compat=1.1,cluster_size=2M")]
    [InlineData("compat=1.1,extended_l2=on")]
    [InlineData("compat=1.1,refcount_bits=1")]
    [InlineData("compat=1.1,preallocation=metadata")]
    public async Task Converted_image_reads_as_qemu_reads_it(string options)
    {
        using var dir = new TempDir();
        var source = WriteSource(dir, "src.raw", 96, seed: 16);
        var image = dir["img.qcow2"];
        await QemuImgAsync("convert", "-f", "raw", "-O", "qcow2", "-o", options, source, image);
        await AssertReadsAsQemuAsync(dir, image);
    }

    [Theory]
    [InlineData("compat=1.1")]
    [InlineData("compat=0.10")]
    [InlineData("compat=1.1,compression_type=zstd")]
    [InlineData("compat=1.1,compression_type=zstd,extended_l2=on")]
    [InlineData("compat=1.1,cluster_size=4k")]
    public async Task Compressed_image_reads_as_qemu_reads_it(string options)
    {
        using var dir = new TempDir();
        var source = WriteSource(dir, "src.raw", 96, seed: 3);
        var image = dir["img.qcow2"];
        await QemuImgAsync("convert", "-c", "-f", "raw", "-O", "qcow2", "-o", options, source, image);
        await AssertReadsAsQemuAsync(dir, image, piece: 4096 + 512);
    }

    [Theory]
    [InlineData("compat=1.1", "qcow2")]
    [InlineData("compat=1.1,extended_l2=on", "qcow2")]
    [InlineData("compat=0.10", "qcow2")]
    [InlineData("compat=1.1", "raw")]
    [InlineData("compat=1.1,extended_l2=on", "raw")]
    public async Task Backing_chain_reads_as_qemu_reads_it(string options, string baseFormat)
    {
        using var dir = new TempDir();
        var source = WriteSource(dir, "src.raw", 64, seed: 7);
        var baseImage = dir["base." + baseFormat];
        await QemuImgAsync("convert", "-f", "raw", "-O", baseFormat, source, baseImage);
        Directory.CreateDirectory(dir["mid"]);
        var middle = dir["mid/middle.qcow2"];
        await QemuImgAsync("create", "-f", "qcow2", "-o", options, "-b", "../base." + baseFormat, "-F", baseFormat, middle, "5M");
        await QemuIoAsync(middle, "qcow2", "write -P 0x11 64k 64k", "write -P 0x22 1052672 8k", "write -z 2M 192k", "write -P 0x33 4M 512k");
        var top = dir["top.qcow2"];

        // The top is larger than its backing file: past the backing file's end it reads zeroes.
        await QemuImgAsync("create", "-f", "qcow2", "-o", options, "-b", "mid/middle.qcow2", "-F", "qcow2", top, "6M");
        await QemuIoAsync(top, "qcow2", "write -P 0x44 8k 4k", "write -z 1M 64k", "write -P 0x55 4255744 8k", "write -P 0x66 5767168 64k");
        await AssertReadsAsQemuAsync(dir, top, piece: 192 * 1024);

        await using var device = Qcow2BlockDevice.Open(top);
        Assert.Equal(System.IO.Path.Combine(dir.Path, "mid/middle.qcow2"), device.BackingPath);
        var middleDevice = Assert.IsType<Qcow2BlockDevice>(device.Backing);
        Assert.Equal(System.IO.Path.Combine(dir.Path, "mid", "../base." + baseFormat), middleDevice.BackingPath);
    }

    [Theory]
    [InlineData("qcow2")]
    [InlineData("raw")]
    public async Task Backing_format_is_probed_when_the_image_does_not_name_it(string baseFormat)
    {
        using var dir = new TempDir();
        var source = WriteSource(dir, "src.raw", 16, seed: 9);
        await QemuImgAsync("convert", "-f", "raw", "-O", baseFormat, source, dir["base.img"]);
        await QemuImgAsync("create", "-f", "qcow2", "-b", "base.img", "-F", baseFormat, dir["top.qcow2"], "1M");

        // qemu-img no longer makes an overlay without a backing format: drop the extension with the Format types.
        RemoveExtension(dir["top.qcow2"], Qcow2HeaderExtensionType.BackingFormat);
        await using var device = Qcow2BlockDevice.Open(dir["top.qcow2"]);
        Assert.Equal(baseFormat == "qcow2", device.Backing is Qcow2BlockDevice);
        Assert.Equal(await QemuChecksumAsync(dir, dir["top.qcow2"]), await ChecksumAsync(device));
    }

    private static void RemoveExtension(string image, Qcow2HeaderExtensionType type)
    {
        using var file = new FileStream(image, FileMode.Open, FileAccess.ReadWrite);
        var first = new byte[4096];
        file.ReadExactly(first);
        var header = Qcow2Header.Parse(first);
        var end = (int)header.BackingFileOffset;
        var area = first.AsSpan(header.EncodedLength, end - header.EncodedLength);
        var kept = Qcow2HeaderExtension.ParseArea(area, header.EncodedLength).Where(e => e.Type != type).ToList();
        area.Clear();
        Qcow2HeaderExtension.WriteArea(kept, area);
        file.Position = 0;
        file.Write(first);
    }

    [Fact]
    public async Task Metadata_preallocated_image_reports_file_holes_under_data_clusters_as_zero_as_qemu_does()
    {
        // What PVE makes on directory storage: qemu then asks the file for holes under allocated clusters.
        using var dir = new TempDir();
        var image = dir["pm.qcow2"];
        await QemuImgAsync("create", "-q", "-f", "qcow2", "-o", "preallocation=metadata", image, "4M");
        await QemuIoAsync(image, "qcow2", "write -P 3 64k 4k", "write -P 4 1M 192k");
        await AssertReadsAsQemuAsync(dir, image);
        await using var device = Qcow2BlockDevice.Open(image);
        Assert.Contains(await MapAsync(device.Size, device.GetExtentsAsync), e => e.Flags == ExtentFlags.Zero);
    }

    [Fact]
    public async Task Reads_allocate_nothing_once_the_tables_are_cached()
    {
        using var dir = new TempDir();
        var source = WriteSource(dir, "src.raw", 64, seed: 5);
        await QemuImgAsync("convert", "-f", "raw", "-O", "qcow2", source, dir["img.qcow2"]);
        await using var device = Qcow2BlockDevice.Open(dir["img.qcow2"]);
        var buffer = new byte[256 * 1024];
        var extents = new ExtentList(1024);
        async Task PassAsync()
        {
            for (var offset = 0L; offset < device.Size; offset += buffer.Length)
            {
                await device.ReadAsync(offset, buffer);
                extents.Clear();
                await device.GetExtentsAsync(offset, buffer.Length, extents);
            }
        }

        for (var warm = 0; warm < 3; warm++)
        {
            await PassAsync();
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        await PassAsync();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    private static async Task AssertReadsAsQemuAsync(TempDir dir, string image, int piece = 1 << 20)
    {
        await using var device = Qcow2BlockDevice.Open(image);
        Assert.Equal(await QemuChecksumAsync(dir, image), await ChecksumAsync(device, piece));
        // qemu-img map's "present" is not qemu-nbd's allocation depth past a shorter backing file: BitmapServeTests
        // compares the depth with qemu-nbd's.
        var (allocation, _) = await QemuMapAsync(image);
        Assert.Equal(allocation, await MapAsync(device.Size, device.GetExtentsAsync));
    }
}
