using Engine.Blocks;
using Engine.Qcow2.Writing;

namespace Engine.Qcow2.Tests;

/// <summary>
/// The writable device against qemu: every image it leaves behind passes <c>qemu-img check</c> and reads, through
/// qemu, exactly as a raw file written with the same requests.
/// </summary>
public sealed class WriterTests
{
    private const long MiB = 1 << 20;

    [Fact]
    public async Task A_new_image_is_clean_and_reads_as_zeroes()
    {
        using var dir = new TempDir();
        await using (var image = Qcow2WritableDevice.Create(dir["a.qcow2"], new Qcow2CreateOptions { Size = 100 * MiB }))
        {
            Assert.Equal(100 * MiB, image.Size);
        }

        await WriterQemu.AssertCleanAsync(dir["a.qcow2"]);
        var info = await Tool.RunAsync("qemu-img", "info", "--output=json", dir["a.qcow2"]);
        info.AssertSuccess();
        Assert.Contains("\"virtual-size\": 104857600", info.Stdout, StringComparison.Ordinal);
        Assert.Contains("\"cluster-size\": 65536", info.Stdout, StringComparison.Ordinal);
        Assert.Contains("\"compat\": \"1.1\"", info.Stdout, StringComparison.Ordinal);
        Assert.Contains("\"lazy-refcounts\": false", info.Stdout, StringComparison.Ordinal);
        Assert.Contains("\"refcount-bits\": 16", info.Stdout, StringComparison.Ordinal);
        await File.WriteAllBytesAsync(dir["zero.raw"], []);
        File.SetAttributes(dir["zero.raw"], FileAttributes.Normal);
        using (var raw = File.OpenHandle(dir["zero.raw"], FileMode.Open, FileAccess.ReadWrite))
        {
            RandomAccess.SetLength(raw, 100 * MiB);
        }

        await WriterQemu.AssertSameAsync(dir["a.qcow2"], dir["zero.raw"]);
    }

    [Theory]
    [InlineData(64 << 10)]
    [InlineData(512)]
    [InlineData(2 << 20)]
    public async Task Writes_zeroes_and_trims_read_back_in_qemu_as_in_a_raw_file(int clusterSize)
    {
        using var dir = new TempDir();
        var size = 24 * MiB;
        await using (var image = Qcow2WritableDevice.Create(dir["a.qcow2"], new Qcow2CreateOptions { Size = size, ClusterSize = clusterSize }))
        await using (var raw = RawFile(dir["a.raw"], size))
        {
            await ApplyAsync(image, raw, seed: clusterSize);
        }

        await WriterQemu.AssertCleanAsync(dir["a.qcow2"]);
        await WriterQemu.AssertSameAsync(dir["a.qcow2"], dir["a.raw"]);
    }

    [Fact]
    public async Task An_image_made_by_qemu_img_is_written_in_place_and_stays_clean()
    {
        using var dir = new TempDir();
        var size = 16 * MiB;
        (await Tool.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", dir["q.qcow2"], $"{size}")).AssertSuccess();
        (await Tool.RunAsync("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1M 3M", "-c", "write -z 6M 1M", dir["q.qcow2"])).AssertSuccess();
        await using (var raw = RawFile(dir["q.raw"], size))
        {
            await raw.WriteAsync(MiB, Enumerable.Repeat((byte)0x5a, 3 * (int)MiB).ToArray());
            await using var image = Qcow2WritableDevice.Open(dir["q.qcow2"]);
            await ApplyAsync(image, raw, seed: 7);
        }

        await WriterQemu.AssertCleanAsync(dir["q.qcow2"]);
        await WriterQemu.AssertSameAsync(dir["q.qcow2"], dir["q.raw"]);
    }

    [Fact]
    public async Task Partial_writes_over_a_backing_file_copy_the_rest_of_the_cluster_from_it()
    {
        using var dir = new TempDir();
        var size = 8 * MiB;
        var baseBytes = WriterQemu.Random((int)size, 11);
        await File.WriteAllBytesAsync(dir["base.raw"], baseBytes);
        await File.WriteAllBytesAsync(dir["expected.raw"], baseBytes);
        await using (var expected = OpenRaw(dir["expected.raw"]))
        await using (var image = Qcow2WritableDevice.Create(
            dir["top.qcow2"],
            new Qcow2CreateOptions { Size = size, BackingFile = "base.raw", BackingFormat = "raw" },
            OpenRaw(dir["base.raw"], readOnly: true)))
        {
            await ApplyAsync(image, expected, seed: 3);
        }

        await WriterQemu.AssertCleanAsync(dir["top.qcow2"]);
        await WriterQemu.AssertSameAsync(dir["top.qcow2"], dir["expected.raw"]);
        var info = await Tool.RunAsync("qemu-img", "info", "--output=json", dir["top.qcow2"]);
        Assert.Contains("\"backing-filename\": \"base.raw\"", info.Stdout, StringComparison.Ordinal);
        Assert.Contains("\"backing-filename-format\": \"raw\"", info.Stdout, StringComparison.Ordinal);

        // Reopened through its header: the backing file is found relative to the image, and new writes still copy from it.
        await using (var expected = OpenRaw(dir["expected.raw"]))
        await using (var image = Qcow2WritableDevice.Open(dir["top.qcow2"], (path, format) =>
        {
            Assert.Equal(dir["base.raw"], path);
            Assert.Equal("raw", format);
            return OpenRaw(path, readOnly: true);
        }))
        {
            await ApplyAsync(image, expected, seed: 4);
        }

        await WriterQemu.AssertCleanAsync(dir["top.qcow2"]);
        await WriterQemu.AssertSameAsync(dir["top.qcow2"], dir["expected.raw"]);
    }

    [Fact]
    public async Task Growing_moves_the_L1_and_refcount_tables_and_qemu_follows()
    {
        using var dir = new TempDir();

        // 512-byte clusters: one refcount-table cluster covers 8 MiB of file, one L1 cluster 2 MiB of guest.
        await using (var raw = RawFile(dir["g.raw"], 40 * MiB))
        {
            await using (var image = Qcow2WritableDevice.Create(dir["g.qcow2"], new Qcow2CreateOptions { Size = 1 * MiB, ClusterSize = 512 }))
            {
                var data = WriterQemu.Random((int)MiB, 5);
                await image.WriteAsync(0, data);
                await raw.WriteAsync(0, data);
                await image.ResizeAsync(40 * MiB);
                Assert.Equal(40 * MiB, image.Size);
                var more = WriterQemu.Random(12 * (int)MiB, 6);
                await image.WriteAsync(27 * MiB, more);
                await raw.WriteAsync(27 * MiB, more);
                await image.FlushAsync();
                await image.WriteAsync(39 * MiB, more.AsMemory(0, (int)MiB));
                await raw.WriteAsync(39 * MiB, more.AsMemory(0, (int)MiB));
            }
        }

        await WriterQemu.AssertCleanAsync(dir["g.qcow2"]);
        await WriterQemu.AssertSameAsync(dir["g.qcow2"], dir["g.raw"]);
    }

    [Fact]
    public async Task Growing_past_qemus_32_MiB_L1_limit_is_refused_and_leaves_the_image_as_it_was()
    {
        using var dir = new TempDir();

        // 512-byte clusters: an L1 entry maps 32 KiB, so 32 MiB of L1 table maps 128 GiB.
        await using (var image = Qcow2WritableDevice.Create(dir["g.qcow2"], new Qcow2CreateOptions { Size = 1 * MiB, ClusterSize = 512 }))
        {
            var error = await Assert.ThrowsAsync<BlockDeviceException>(async () => await image.ResizeAsync(256L << 30));
            Assert.Contains("its L1 table would exceed 33554432 bytes", error.Message, StringComparison.Ordinal);
            Assert.Equal(1 * MiB, image.Size);
        }

        await WriterQemu.AssertCleanAsync(dir["g.qcow2"]);
    }

    [Fact]
    public async Task Images_the_writer_cannot_keep_consistent_are_refused_by_name()
    {
        using var dir = new TempDir();
        (await Tool.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-o", "compat=0.10", dir["v2.qcow2"], "1M")).AssertSuccess();
        (await Tool.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-o", "extended_l2=on", dir["l2.qcow2"], "1M")).AssertSuccess();
        (await Tool.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-o", "refcount_bits=8", dir["r8.qcow2"], "1M")).AssertSuccess();
        (await Tool.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", dir["snap.qcow2"], "1M")).AssertSuccess();
        (await Tool.RunAsync("qemu-img", "snapshot", "-c", "s1", dir["snap.qcow2"])).AssertSuccess();
        await File.WriteAllBytesAsync(dir["raw.img"], new byte[4096]);

        var cases = new (string File, string Message)[]
        {
            ("v2.qcow2", "version 2"),
            ("l2.qcow2", "extended L2"),
            ("r8.qcow2", "refcount order 3"),
            ("snap.qcow2", "internal snapshots"),
            ("raw.img", "not a qcow2 image"),
        };
        foreach (var (file, message) in cases)
        {
            var e = Assert.Throws<BlockDeviceException>(() => Qcow2WritableDevice.Open(dir[file]));
            Assert.Contains(dir[file], e.Message, StringComparison.Ordinal);
            Assert.Contains(message, e.Message, StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// The same requests on both devices: aligned and unaligned writes across cluster edges, rewrites in place, zeroing
    /// with and without deallocation, trims (whole clusters only, which both sides then read as zeroes), and a flush in
    /// the middle; then reads compared.
    /// </summary>
    internal static async Task ApplyAsync(IBlockDevice image, IBlockDevice raw, int seed)
    {
        var size = image.Size;
        var random = new Random(seed);
        var cluster = image.PreferredBlockSize;
        for (var i = 0; i < 60; i++)
        {
            var length = random.Next(1, (int)Math.Min(3 * MiB, size / 4));
            var offset = random.NextInt64(0, size - length);
            if (i % 3 == 0)
            {
                offset -= offset % 512;
            }

            switch (random.Next(6))
            {
                case 0:
                    await BothZeroAsync(offset, length, WriteZeroesFlags.MayPunchHole);
                    break;
                case 1:
                    await BothZeroAsync(offset, length, WriteZeroesFlags.None);
                    break;
                case 2:
                    var start = (offset + cluster - 1) / cluster * cluster;
                    var end = (offset + length) / cluster * cluster;
                    if (end > start)
                    {
                        await image.TrimAsync(start, end - start);
                        await raw.WriteZeroesAsync(start, end - start, WriteZeroesFlags.None);
                    }

                    break;
                default:
                    var data = WriterQemu.Random(length, seed * 1000 + i);
                    await image.WriteAsync(offset, data);
                    await raw.WriteAsync(offset, data);
                    break;
            }

            if (i == 30)
            {
                await image.FlushAsync();
            }
        }

        var mine = new byte[size];
        var theirs = new byte[size];
        await image.ReadAsync(0, mine);
        await raw.ReadAsync(0, theirs);
        Assert.True(mine.AsSpan().SequenceEqual(theirs), "the device reads back other bytes than the raw file");

        async Task BothZeroAsync(long offset, int length, WriteZeroesFlags flags)
        {
            await image.WriteZeroesAsync(offset, length, flags);
            await raw.WriteZeroesAsync(offset, length, WriteZeroesFlags.None);
        }
    }

    private static Blocks.Devices.FileBlockDevice RawFile(string path, long size)
    {
        using (var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite))
        {
            RandomAccess.SetLength(handle, size);
        }

        return OpenRaw(path);
    }

    private static Blocks.Devices.FileBlockDevice OpenRaw(string path, bool readOnly = false) =>
        Blocks.Devices.FileBlockDevice.Open(path, new Blocks.Devices.FileBlockDeviceOptions { ReadOnly = readOnly });
}
