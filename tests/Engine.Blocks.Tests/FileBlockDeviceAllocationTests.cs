using Engine.Blocks.Devices;

namespace Engine.Blocks.Tests;

/// <summary>
/// Extents, trim and zeroing of <see cref="FileBlockDevice"/> against a real filesystem (ext4 for /tmp on the
/// development machine), checked through what the kernel reports: SEEK_DATA/SEEK_HOLE and st_blocks.
/// </summary>
public sealed class FileBlockDeviceAllocationTests : IDisposable
{
    private const int KiB = 1024;
    private const int MiB = 1024 * KiB;

    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Extents_of_a_sparse_file_are_hole_data_hole()
    {
        var path = _temp.CreateSparseFile(MiB);
        await using var device = FileBlockDevice.Open(path, FileBlockDeviceOptions.Default);
        await device.WriteAsync(256 * KiB, TestData.Random(64 * KiB, 1));

        var extents = new ExtentList();
        Assert.Equal(MiB, await device.GetExtentsAsync(0, MiB, extents));
        Assert.Equal(
            new[]
            {
                new Extent(0, 256 * KiB, ExtentFlags.HoleZero),
                new Extent(256 * KiB, 64 * KiB, ExtentFlags.Data),
                new Extent(320 * KiB, 704 * KiB, ExtentFlags.HoleZero),
            },
            extents.AsSpan().ToArray());

        // A query starts exactly at its offset and stops exactly at its end, even mid-block.
        extents.Clear();
        Assert.Equal(300 * KiB - 100, await device.GetExtentsAsync(100, 300 * KiB - 100, extents));
        Assert.Equal(
            new[] { new Extent(100, 256 * KiB - 100, ExtentFlags.HoleZero), new Extent(256 * KiB, 44 * KiB, ExtentFlags.Data) },
            extents.AsSpan().ToArray());
    }

    [Fact]
    public async Task Extents_of_a_fully_written_file_are_one_data_extent()
    {
        var path = Path.Combine(_temp.Path, "full.img");
        await File.WriteAllBytesAsync(path, TestData.Random(MiB, 2));
        await using var device = FileBlockDevice.Open(path, FileBlockDeviceOptions.Default);
        Assert.Equal(new[] { new Extent(0, MiB, ExtentFlags.Data) }, await TestData.AllExtentsAsync(device, 0, MiB));
    }

    [Fact]
    public async Task A_fragmented_file_is_described_over_several_calls()
    {
        // 1100 data blocks separated by holes: 2200 extents, more than one call reports.
        const int blocks = 1100;
        var path = _temp.CreateSparseFile(blocks * 8 * KiB);
        await using var device = FileBlockDevice.Open(path, FileBlockDeviceOptions.Default);
        var block = TestData.Random(4 * KiB, 3);
        for (var i = 0; i < blocks; i++)
        {
            await device.WriteAsync(i * 8L * KiB, block);
        }

        var first = new ExtentList();
        var covered = await device.GetExtentsAsync(0, device.Size, first);
        Assert.InRange(covered, 1, device.Size - 1);
        Assert.InRange(first.Count, 1, 1024);

        var all = await TestData.AllExtentsAsync(device, 0, device.Size);
        Assert.Equal(2 * blocks, all.Length);
        for (var i = 0; i < all.Length; i++)
        {
            Assert.Equal(new Extent(i * 4L * KiB, 4 * KiB, i % 2 == 0 ? ExtentFlags.Data : ExtentFlags.HoleZero), all[i]);
        }
    }

    [Fact]
    public async Task Trim_frees_the_blocks_and_reads_back_zeroes()
    {
        var path = _temp.CreateSparseFile(2 * MiB);
        await using var device = FileBlockDevice.Open(path, FileBlockDeviceOptions.Default);
        var data = TestData.Random(2 * MiB, 4);
        await device.WriteAsync(0, data, WriteFlags.Fua);
        Assert.True(TempDirectory.AllocatedBytes(path) >= 2 * MiB);

        await device.TrimAsync(0, MiB, WriteFlags.Fua);

        var allocated = TempDirectory.AllocatedBytes(path);
        Assert.InRange(allocated, MiB, MiB + 64 * KiB);
        Assert.True(TestData.IsZero(await TestData.ReadAllAsync(device, 0, MiB)));
        Assert.Equal(data[MiB..], await TestData.ReadAllAsync(device, MiB, MiB));
        Assert.Equal(ExtentFlags.HoleZero, (await TestData.AllExtentsAsync(device, 0, 2 * MiB))[0].Flags);
    }

    [Fact]
    public async Task Trim_of_partial_blocks_leaves_the_neighbours_alone()
    {
        var path = _temp.CreateSparseFile(64 * KiB);
        await using var device = FileBlockDevice.Open(path, FileBlockDeviceOptions.Default);
        var data = TestData.Random(64 * KiB, 5);
        await device.WriteAsync(0, data);

        await device.TrimAsync(1000, 10_000);

        var back = await TestData.ReadAllAsync(device, 0, 64 * KiB);
        Assert.Equal(data[..1000], back[..1000]);
        Assert.True(TestData.IsZero(back.AsSpan(1000, 10_000)));
        Assert.Equal(data[11_000..], back[11_000..]);
    }

    [Theory]
    [InlineData(WriteZeroesFlags.None)]
    [InlineData(WriteZeroesFlags.MayPunchHole)]
    [InlineData(WriteZeroesFlags.FastOnly)]
    [InlineData(WriteZeroesFlags.MayPunchHole | WriteZeroesFlags.FastOnly | WriteZeroesFlags.Fua)]
    public async Task Write_zeroes_reads_back_zero_and_punches_only_when_allowed(WriteZeroesFlags flags)
    {
        var path = _temp.CreateSparseFile(2 * MiB);
        await using var device = FileBlockDevice.Open(path, FileBlockDeviceOptions.Default);
        var data = TestData.Random(2 * MiB, 6);
        await device.WriteAsync(0, data, WriteFlags.Fua);
        var before = TempDirectory.AllocatedBytes(path);

        // Unaligned at both ends: the partial blocks must be zeroed exactly, the rest left alone.
        const int offset = 100 * KiB + 17;
        const int length = MiB + 1234;
        await device.WriteZeroesAsync(offset, length, flags);
        await device.FlushAsync();

        var back = await TestData.ReadAllAsync(device, 0, 2 * MiB);
        Assert.Equal(data[..offset], back[..offset]);
        Assert.True(TestData.IsZero(back.AsSpan(offset, length)));
        Assert.Equal(data[(offset + length)..], back[(offset + length)..]);

        var after = TempDirectory.AllocatedBytes(path);
        if ((flags & WriteZeroesFlags.MayPunchHole) != 0)
        {
            Assert.True(before - after >= MiB - 8 * KiB, $"punching freed only {before - after} bytes");
        }
        else
        {
            Assert.Equal(before, after);
        }
    }

    [Fact]
    public async Task Without_fallocate_fast_zero_is_refused_and_slow_zero_writes()
    {
        var path = _temp.CreateSparseFile(MiB);
        await using var device = FileBlockDevice.Open(path, new FileBlockDeviceOptions { DisableFallocate = true });
        Assert.False(device.Capabilities.HasFlag(BlockDeviceCapabilities.FastZero));
        var data = TestData.Random(MiB, 7);
        await device.WriteAsync(0, data);

        var e = await Assert.ThrowsAsync<BlockDeviceException>(
            () => device.WriteZeroesAsync(0, 64 * KiB, WriteZeroesFlags.FastOnly | WriteZeroesFlags.MayPunchHole).AsTask());
        Assert.Equal(Errno.ENOTSUP, e.Errno);
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.Equal(data, await TestData.ReadAllAsync(device, 0, MiB));

        // Trim is a hint: without a way to deallocate it succeeds and changes nothing.
        await device.TrimAsync(0, MiB);
        Assert.Equal(data, await TestData.ReadAllAsync(device, 0, MiB));

        await device.WriteZeroesAsync(4096, 3 * MiB / 4, WriteZeroesFlags.MayPunchHole);
        var back = await TestData.ReadAllAsync(device, 0, MiB);
        Assert.Equal(data[..4096], back[..4096]);
        Assert.True(TestData.IsZero(back.AsSpan(4096, 3 * MiB / 4)));
        Assert.Equal(data[(4096 + (3 * MiB / 4))..], back[(4096 + (3 * MiB / 4))..]);
        Assert.True(TempDirectory.AllocatedBytes(path) >= MiB, "slow zeroing writes, so the blocks stay allocated");
    }

    [Fact]
    public async Task On_tmpfs_zeroing_without_punching_falls_back_to_punch_and_allocate()
    {
        // tmpfs punches holes but has no FALLOC_FL_ZERO_RANGE: the path that re-allocates a punched hole.
        if (!Directory.Exists("/dev/shm"))
        {
            return;
        }

        using var shm = new TempDirectory("/dev/shm");
        var path = shm.CreateSparseFile(MiB);
        await using var device = FileBlockDevice.Open(path, FileBlockDeviceOptions.Default);
        Assert.True(device.Capabilities.HasFlag(BlockDeviceCapabilities.FastZero));
        await device.WriteAsync(0, TestData.Random(MiB, 8));

        await device.WriteZeroesAsync(0, MiB / 2, WriteZeroesFlags.FastOnly);

        Assert.True(TestData.IsZero(await TestData.ReadAllAsync(device, 0, MiB / 2)));
        Assert.True(TempDirectory.AllocatedBytes(path) >= MiB, "the zeroed range must stay allocated");

        await device.WriteZeroesAsync(0, MiB / 2, WriteZeroesFlags.FastOnly | WriteZeroesFlags.MayPunchHole);
        Assert.InRange(TempDirectory.AllocatedBytes(path), MiB / 2, (MiB / 2) + (64 * KiB));
    }
}
