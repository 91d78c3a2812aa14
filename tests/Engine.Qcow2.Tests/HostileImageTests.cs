using System.Buffers.Binary;
using System.IO.Compression;
using Engine.Blocks;
using Engine.Qcow2.Format;
using Engine.Qcow2.Reading;
using static Engine.Qcow2.Tests.ReadingImages;

namespace Engine.Qcow2.Tests;

/// <summary>
/// Hostile and malformed images are refused with a <see cref="Qcow2FormatException"/> naming the file, the offset and
/// the problem (or, found while reading, EIO carrying it), in bounded memory and time.
/// </summary>
public sealed class HostileImageTests
{
    [Fact]
    public async Task L1_table_past_the_end_of_the_file_is_refused()
    {
        using var dir = new TempDir();
        var image = await ImageAsync(dir);
        RewriteHeader(image, h => h with { L1TableOffset = 1UL << 40 });
        var error = Assert.Throws<Qcow2FormatException>(() => Qcow2BlockDevice.Open(image));
        Assert.Equal(image, error.ImagePath);
        Assert.Equal(40, error.Offset);
        Assert.Contains("past the end of the file", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Huge_L1_size_is_refused_before_anything_is_allocated()
    {
        using var dir = new TempDir();
        var image = await ImageAsync(dir);
        RewriteHeader(image, h => h with { L1Size = 0x4000_0000, Size = 1UL << 59 });
        var error = Assert.Throws<Qcow2FormatException>(() => Qcow2BlockDevice.Open(image));
        Assert.Equal(36, error.Offset);
        Assert.Contains("exceeds 33554432 bytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task L1_table_too_small_for_the_disk_is_refused()
    {
        using var dir = new TempDir();
        var image = await ImageAsync(dir);
        RewriteHeader(image, h => h with { Size = 1UL << 40 });
        var error = Assert.Throws<Qcow2FormatException>(() => Qcow2BlockDevice.Open(image));
        Assert.Equal(36, error.Offset);
    }

    [Fact]
    public async Task Refcount_table_past_the_end_of_the_file_is_refused()
    {
        using var dir = new TempDir();
        var image = await ImageAsync(dir);
        RewriteHeader(image, h => h with { RefcountTableOffset = 1UL << 36 });
        Assert.Equal(48, Assert.Throws<Qcow2FormatException>(() => Qcow2BlockDevice.Open(image)).Offset);
    }

    [Fact]
    public async Task Refcount_order_out_of_range_is_refused()
    {
        using var dir = new TempDir();
        var image = await ImageAsync(dir);
        Patch(image, 96, [0, 0, 0, 7]);
        var error = Assert.Throws<Qcow2FormatException>(() => Qcow2BlockDevice.Open(image));
        Assert.Equal($"{image}: at offset 96: refcount_order 7 is out of range (0 to 6)", error.Message);
    }

    [Fact]
    public async Task L2_table_past_the_end_of_the_file_fails_the_read_with_EIO_naming_the_L1_entry()
    {
        using var dir = new TempDir();
        var image = await ImageAsync(dir);
        var header = ReadHeader(image);
        Patch(image, (long)header.L1TableOffset, Entry(L1Entry.Create(1UL << 40, copied: true).Raw));
        await using var device = Qcow2BlockDevice.Open(image);
        var error = await Assert.ThrowsAsync<BlockDeviceException>(async () => await device.ReadAsync(0, new byte[4096]));
        Assert.Equal(Errno.EIO, error.Errno);
        var cause = Assert.IsType<Qcow2FormatException>(error.InnerException);
        Assert.Equal((long)header.L1TableOffset, cause.Offset);
        Assert.Contains("past the end of the file", error.Message, StringComparison.Ordinal);
        Assert.StartsWith(image, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Looping_and_overlapping_references_read_without_a_crash()
    {
        using var dir = new TempDir();
        var image = await ImageAsync(dir);
        var header = ReadHeader(image);

        // The L1 entry points at the L1 table itself, whose entries then read as L2 entries pointing at L2 tables.
        Patch(image, (long)header.L1TableOffset, Entry(L1Entry.Create(header.L1TableOffset, copied: true).Raw));
        await using var device = Qcow2BlockDevice.Open(image);
        var buffer = new byte[1 << 20];
        await device.ReadAsync(0, buffer);
        var extents = new ExtentList();
        Assert.InRange(await device.GetExtentsAsync(0, buffer.Length, extents), 1, buffer.Length);
    }

    [Fact]
    public async Task Unaligned_data_cluster_fails_the_read_with_EIO()
    {
        using var dir = new TempDir();
        var image = await ImageAsync(dir);
        var l2 = FirstL2Table(image);
        Patch(image, l2, Entry(L2Entry.Standard(0x5_0000, copied: true).Raw | 0x1000));
        await using var device = Qcow2BlockDevice.Open(image);
        var error = await Assert.ThrowsAsync<BlockDeviceException>(async () => await device.ReadAsync(0, new byte[512]));
        Assert.Equal(l2, Assert.IsType<Qcow2FormatException>(error.InnerException).Offset);
        Assert.Contains("not a multiple of the cluster size", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Compressed_cluster_that_inflates_past_its_size_fails_the_read()
    {
        using var dir = new TempDir();
        var source = WriteSource(dir, "src.raw", 8, seed: 1);
        var image = dir["img.qcow2"];
        await QemuImgAsync("convert", "-c", "-f", "raw", "-O", "qcow2", source, image);
        var (l2Index, entry) = FirstCompressed(image);
        var descriptor = new L2Entry(entry).GetCompressed(16);
        using (var bomb = new MemoryStream())
        {
            using (var deflate = new DeflateStream(bomb, CompressionLevel.SmallestSize, leaveOpen: true))
            {
                deflate.Write(new byte[64 << 20]);
            }

            // 64 MiB of zeroes deflate to about 64 KiB; the descriptor is widened to cover the whole stream.
            Patch(image, (long)descriptor.HostOffset, bomb.ToArray());
            var wide = CompressedClusterDescriptor.For(descriptor.HostOffset, Math.Min((int)bomb.Length, Cluster), 16);
            Patch(image, FirstL2Table(image) + (l2Index * 8), Entry(L2Entry.Compressed(wide, 16).Raw));
        }

        await using var device = Qcow2BlockDevice.Open(image);
        var before = GC.GetTotalAllocatedBytes(precise: true);
        var error = await Assert.ThrowsAsync<BlockDeviceException>(async () => await device.ReadAsync(l2Index * (long)Cluster, new byte[4096]));
        Assert.Contains("inflates past the cluster size 65536", error.Message, StringComparison.Ordinal);
        Assert.InRange(GC.GetTotalAllocatedBytes(precise: true) - before, 0, 4 << 20);
    }

    [Fact]
    public async Task Header_extension_with_a_lying_length_is_refused()
    {
        using var dir = new TempDir();
        var image = await ImageAsync(dir);
        var header = ReadHeader(image);

        // The first extension (the feature name table qemu writes) claims more bytes than the cluster holds.
        Patch(image, header.EncodedLength + 4, [0x7f, 0, 0, 0]);
        var error = Assert.Throws<Qcow2FormatException>(() => Qcow2BlockDevice.Open(image));
        Assert.Equal(header.EncodedLength + 4, error.Offset);
        Assert.Contains("claims 2130706432 bytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_incompatible_feature_is_refused_by_name()
    {
        using var dir = new TempDir();
        var image = await ImageAsync(dir);
        RewriteHeader(image, h => h with { IncompatibleFeatures = h.IncompatibleFeatures | (Qcow2IncompatibleFeatures)(1UL << 40) });
        var error = Assert.Throws<Qcow2FormatException>(() => Qcow2BlockDevice.Open(image));
        Assert.Equal($"{image}: at offset 72: unsupported incompatible feature bit 40", error.Message);
    }

    [Fact]
    public async Task Encrypted_image_is_refused_clearly()
    {
        using var dir = new TempDir();
        var image = dir["luks.qcow2"];
        await QemuImgAsync("create", "-q", "-f", "qcow2", "--object", "secret,id=sec0,data=secret", "-o",
            "encrypt.format=luks,encrypt.key-secret=sec0", image, "1M");
        var error = Assert.Throws<Qcow2FormatException>(() => Qcow2BlockDevice.Open(image));
        Assert.Equal($"{image}: at offset 32: the image is encrypted (LUKS); Engine does not read encrypted qcow2 images", error.Message);
    }

    [Fact]
    public async Task Backing_chain_loop_is_refused()
    {
        using var dir = new TempDir();
        await QemuImgAsync("create", "-q", "-f", "qcow2", dir["a.qcow2"], "1M");
        await QemuImgAsync("create", "-q", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", dir["b.qcow2"], "1M");
        await QemuImgAsync("rebase", "-u", "-b", "b.qcow2", "-F", "qcow2", dir["a.qcow2"]);
        var error = Assert.Throws<Qcow2FormatException>(() => Qcow2BlockDevice.Open(dir["b.qcow2"]));
        Assert.Equal(dir["a.qcow2"], error.ImagePath);
        Assert.Contains("backing file 'b.qcow2'", error.Message, StringComparison.Ordinal);
        Assert.Contains("the backing chain loops", error.Message, StringComparison.Ordinal);

        // An image naming itself, under another path (a symbolic link).
        File.CreateSymbolicLink(dir["link.qcow2"], dir["a.qcow2"]);
        await QemuImgAsync("rebase", "-u", "-b", "link.qcow2", "-F", "qcow2", dir["a.qcow2"]);
        Assert.Contains("the backing chain loops", Assert.Throws<Qcow2FormatException>(() => Qcow2BlockDevice.Open(dir["a.qcow2"])).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Backing_chain_longer_than_the_limit_is_refused()
    {
        using var dir = new TempDir();
        await QemuImgAsync("create", "-q", "-f", "qcow2", dir["0.qcow2"], "1M");
        for (var i = 1; i <= 3; i++)
        {
            await QemuImgAsync("create", "-q", "-f", "qcow2", "-b", $"{i - 1}.qcow2", "-F", "qcow2", dir[$"{i}.qcow2"], "1M");
        }

        await Qcow2BlockDevice.Open(dir["3.qcow2"], new Qcow2ReaderOptions { MaxChainLength = 4 }).DisposeAsync();
        var error = Assert.Throws<Qcow2FormatException>(() => Qcow2BlockDevice.Open(dir["3.qcow2"], new Qcow2ReaderOptions { MaxChainLength = 3 }));
        Assert.Contains("longer than 3 images", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Missing_backing_file_names_the_image_that_names_it()
    {
        using var dir = new TempDir();
        await QemuImgAsync("create", "-q", "-f", "qcow2", dir["base.qcow2"], "1M");
        await QemuImgAsync("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", dir["top.qcow2"], "1M");
        File.Delete(dir["base.qcow2"]);
        var error = Assert.Throws<FileNotFoundException>(() => Qcow2BlockDevice.Open(dir["top.qcow2"]));
        Assert.Equal($"{dir["top.qcow2"]}: backing file 'base.qcow2' ({dir["base.qcow2"]}): no such file", error.Message);
    }

    [Fact]
    public async Task Truncated_header_and_other_formats_are_refused()
    {
        using var dir = new TempDir();
        var image = await ImageAsync(dir);
        using (var file = new FileStream(image, FileMode.Open))
        {
            file.SetLength(50);
        }

        Assert.Contains("needs 72 bytes", Assert.Throws<Qcow2FormatException>(() => Qcow2BlockDevice.Open(image)).Message, StringComparison.Ordinal);
        File.WriteAllBytes(image, new byte[4096]);
        Assert.Contains("not a qcow2 image", Assert.Throws<Qcow2FormatException>(() => Qcow2BlockDevice.Open(image)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_one_table_cache_still_reads_byte_exact()
    {
        using var dir = new TempDir();
        var source = WriteSource(dir, "src.raw", 64, seed: 11);
        var image = dir["img.qcow2"];

        // 4 KiB clusters: 512 entries per L2 table, so the 4 MiB disk needs two tables and the cache evicts all the time.
        await QemuImgAsync("convert", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=4k", source, image);
        await using var device = Qcow2BlockDevice.Open(image, new Qcow2ReaderOptions { L2CacheBytes = 1 });
        var reads = Enumerable.Range(0, 8).Select(async _ => await ChecksumAsync(device, 12 * 1024 + 512)).ToArray();
        var expected = await QemuChecksumAsync(dir, image);
        Assert.All(await Task.WhenAll(reads), sum => Assert.Equal(expected, sum));
    }

    private static async Task<string> ImageAsync(TempDir dir)
    {
        var source = WriteSource(dir, "src.raw", 32, seed: 2);
        var image = dir["img.qcow2"];
        await QemuImgAsync("convert", "-f", "raw", "-O", "qcow2", source, image);
        return image;
    }

    private static Qcow2Header ReadHeader(string image)
    {
        var first = new byte[4096];
        using var file = File.OpenRead(image);
        file.ReadExactly(first);
        return Qcow2Header.Parse(first);
    }

    private static void RewriteHeader(string image, Func<Qcow2Header, Qcow2Header> change)
    {
        var header = change(ReadHeader(image));
        var bytes = new byte[header.EncodedLength];
        header.WriteTo(bytes);
        Patch(image, 0, bytes);
    }

    private static long FirstL2Table(string image)
    {
        var header = ReadHeader(image);
        using var file = File.OpenRead(image);
        var entry = new byte[8];
        file.Position = (long)header.L1TableOffset;
        file.ReadExactly(entry);
        return (long)L1Entry.Parse(entry).L2Offset;
    }

    private static (int Index, ulong Entry) FirstCompressed(string image)
    {
        using var file = File.OpenRead(image);
        var table = new byte[Cluster];
        file.Position = FirstL2Table(image);
        file.ReadExactly(table);
        for (var i = 0; i < Cluster / 8; i++)
        {
            var entry = L2Entry.Parse(table.AsSpan(i * 8));
            if (entry.IsCompressed)
            {
                return (i, entry.Raw);
            }
        }

        throw new InvalidOperationException("no compressed cluster");
    }

    private static byte[] Entry(ulong raw)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, raw);
        return bytes;
    }

    private static void Patch(string image, long offset, byte[] bytes)
    {
        using var file = new FileStream(image, FileMode.Open, FileAccess.Write);
        file.Position = offset;
        file.Write(bytes);
    }
}
