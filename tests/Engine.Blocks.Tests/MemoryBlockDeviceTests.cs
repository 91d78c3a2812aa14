using Engine.Blocks.Devices;

namespace Engine.Blocks.Tests;

/// <summary>The sparse in-memory device: contents, page allocation and extents.</summary>
public sealed class MemoryBlockDeviceTests
{
    private const int Page = MemoryBlockDevice.PageSize;

    [Fact]
    public async Task Random_writes_at_unaligned_offsets_read_back_byte_exact()
    {
        const int size = (8 * Page) + 77;
        await using var device = new MemoryBlockDevice(size);
        var shadow = new byte[size];
        var random = new Random(11);
        for (var i = 0; i < 300; i++)
        {
            var length = random.Next(0, 3 * Page);
            var offset = random.Next(0, size - length + 1);
            var data = TestData.Random(length, i);
            await device.WriteAsync(offset, data);
            data.CopyTo(shadow, offset);
        }

        Assert.Equal(shadow, await TestData.ReadAllAsync(device, 0, size));
        Assert.Equal(shadow[12345..54321], await TestData.ReadAllAsync(device, 12345, 54321 - 12345));
    }

    [Fact]
    public async Task A_new_device_reads_zeroes_and_stores_nothing()
    {
        await using var device = new MemoryBlockDevice(1L << 40);
        var buffer = Enumerable.Repeat((byte)0xEE, 3 * Page).ToArray();
        await device.ReadAsync((1L << 40) - buffer.Length, buffer);
        Assert.True(TestData.IsZero(buffer));
        Assert.Equal(0, device.AllocatedPages);
    }

    [Fact]
    public async Task Writing_zeroes_never_allocates_and_zeroing_a_page_frees_it()
    {
        await using var device = new MemoryBlockDevice(4 * Page);
        await device.WriteAsync(100, new byte[2 * Page]);
        Assert.Equal(0, device.AllocatedPages);

        await device.WriteAsync(Page + 5, new byte[] { 1 });
        Assert.Equal(1, device.AllocatedPages);
        await device.WriteAsync(Page, new byte[Page]);
        Assert.Equal(0, device.AllocatedPages);
    }

    [Fact]
    public async Task Trim_and_write_zeroes_free_whole_pages_and_zero_partial_ones()
    {
        await using var device = new MemoryBlockDevice(4 * Page);
        var data = TestData.Random(4 * Page, 12);
        await device.WriteAsync(0, data);
        Assert.Equal(4, device.AllocatedPages);

        // Ends mid-page 0 and mid-page 2: page 1 goes away, pages 0 and 2 keep their other bytes.
        await device.TrimAsync(Page - 10, Page + 20);
        Assert.Equal(3, device.AllocatedPages);
        await device.WriteZeroesAsync(3 * Page, Page, WriteZeroesFlags.FastOnly);
        Assert.Equal(2, device.AllocatedPages);

        var back = await TestData.ReadAllAsync(device, 0, 4 * Page);
        Assert.Equal(data[..(Page - 10)], back[..(Page - 10)]);
        Assert.True(TestData.IsZero(back.AsSpan(Page - 10, Page + 20)));
        Assert.Equal(data[((2 * Page) + 10)..(3 * Page)], back[((2 * Page) + 10)..(3 * Page)]);
        Assert.True(TestData.IsZero(back.AsSpan(3 * Page)));
    }

    [Fact]
    public async Task Extents_report_absent_pages_as_holes()
    {
        await using var device = new MemoryBlockDevice(8 * Page);
        await device.WriteAsync((2 * Page) + 1, new byte[] { 1 });
        await device.WriteAsync(5 * Page, new byte[] { 2 });

        Assert.Equal(
            new[]
            {
                new Extent(0, 2 * Page, ExtentFlags.HoleZero),
                new Extent(2 * Page, Page, ExtentFlags.Data),
                new Extent(3 * Page, 2 * Page, ExtentFlags.HoleZero),
                new Extent(5 * Page, Page, ExtentFlags.Data),
                new Extent(6 * Page, 2 * Page, ExtentFlags.HoleZero),
            },
            await TestData.AllExtentsAsync(device, 0, 8 * Page));

        var list = new ExtentList();
        Assert.Equal(Page, await device.GetExtentsAsync((2 * Page) + 100, Page, list));
        Assert.Equal(
            new[] { new Extent((2 * Page) + 100, Page - 100, ExtentFlags.Data), new Extent(3 * Page, 100, ExtentFlags.HoleZero) },
            list.AsSpan().ToArray());
    }

    [Fact]
    public async Task A_huge_sparse_device_reports_its_few_pages_quickly()
    {
        const long tib = 1L << 40;
        await using var device = new MemoryBlockDevice(tib);
        Assert.Equal(new[] { new Extent(0, tib, ExtentFlags.HoleZero) }, await TestData.AllExtentsAsync(device, 0, tib));

        await device.WriteAsync(tib / 2, new byte[] { 1 });
        await device.WriteAsync(tib - 1, new byte[] { 2 });
        Assert.Equal(
            new[]
            {
                new Extent(0, tib / 2, ExtentFlags.HoleZero),
                new Extent(tib / 2, Page, ExtentFlags.Data),
                new Extent((tib / 2) + Page, (tib / 2) - (2 * Page), ExtentFlags.HoleZero),
                new Extent(tib - Page, Page, ExtentFlags.Data),
            },
            await TestData.AllExtentsAsync(device, 0, tib));
    }

    [Fact]
    public async Task Read_only_refuses_changes_with_EPERM()
    {
        await using var device = new MemoryBlockDevice(Page, readOnly: true);
        Assert.True(device.Capabilities.HasFlag(BlockDeviceCapabilities.ReadOnly));
        Assert.Equal(Errno.EPERM, (await Assert.ThrowsAsync<BlockDeviceException>(() => device.WriteAsync(0, new byte[1]).AsTask())).Errno);
        Assert.Equal(Errno.EPERM, (await Assert.ThrowsAsync<BlockDeviceException>(() => device.TrimAsync(0, 1).AsTask())).Errno);
        Assert.Equal(Errno.EPERM, (await Assert.ThrowsAsync<BlockDeviceException>(
            () => device.WriteZeroesAsync(0, 1, WriteZeroesFlags.None).AsTask())).Errno);
        Assert.True(TestData.IsZero(await TestData.ReadAllAsync(device, 0, Page)));
    }

    [Fact]
    public async Task Capabilities_and_out_of_range_errors()
    {
        await using var device = new MemoryBlockDevice(Page);
        Assert.Equal(
            BlockDeviceCapabilities.Flush | BlockDeviceCapabilities.Fua | BlockDeviceCapabilities.Trim | BlockDeviceCapabilities.WriteZeroes
            | BlockDeviceCapabilities.FastZero | BlockDeviceCapabilities.Cache | BlockDeviceCapabilities.MultiConnSafe | BlockDeviceCapabilities.Extents,
            device.Capabilities);
        Assert.Equal(1, device.MinimumBlockSize);
        Assert.Equal(4096, device.PreferredBlockSize);

        Assert.Equal(Errno.EINVAL, (await Assert.ThrowsAsync<BlockDeviceException>(() => device.ReadAsync(Page, new byte[1]).AsTask())).Errno);
        Assert.Equal(Errno.ENOSPC, (await Assert.ThrowsAsync<BlockDeviceException>(() => device.WriteAsync(Page - 1, new byte[2]).AsTask())).Errno);
        Assert.Equal(Errno.ENOSPC, (await Assert.ThrowsAsync<BlockDeviceException>(
            () => device.WriteZeroesAsync(1, long.MaxValue, WriteZeroesFlags.None).AsTask())).Errno);
        Assert.Equal(Errno.EINVAL, (await Assert.ThrowsAsync<BlockDeviceException>(() => device.TrimAsync(-1, 1).AsTask())).Errno);
        Assert.Equal(Errno.EINVAL, (await Assert.ThrowsAsync<BlockDeviceException>(
            () => device.GetExtentsAsync(0, 0, new ExtentList()).AsTask())).Errno);
        Assert.Equal(0, device.AllocatedPages);
    }

    [Fact]
    public async Task Concurrent_writers_to_disjoint_ranges_all_land()
    {
        const int chunk = 10_000;
        const int chunks = 64;
        await using var device = new MemoryBlockDevice(chunk * chunks);
        await Parallel.ForAsync(0, chunks, async (i, ct) => await device.WriteAsync(i * (long)chunk, TestData.Random(chunk, i), cancellationToken: ct));

        var back = await TestData.ReadAllAsync(device, 0, chunk * chunks);
        for (var i = 0; i < chunks; i++)
        {
            Assert.Equal(TestData.Random(chunk, i), back[(i * chunk)..((i + 1) * chunk)]);
        }
    }
}
