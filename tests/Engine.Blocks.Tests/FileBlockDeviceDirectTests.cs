using Engine.Blocks.Buffers;
using Engine.Blocks.Devices;

namespace Engine.Blocks.Tests;

/// <summary>O_DIRECT mode of <see cref="FileBlockDevice"/>: aligned offsets required, any buffer and length accepted.</summary>
public sealed class FileBlockDeviceDirectTests : IDisposable
{
    private static readonly FileBlockDeviceOptions Direct = new() { Direct = true };

    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Direct_mode_reports_its_block_size_and_no_sendfile()
    {
        var path = _temp.CreateSparseFile(1 << 20);
        await using var device = FileBlockDevice.Open(path, Direct);
        Assert.True(device.MinimumBlockSize is >= 512 and <= 4096 && int.IsPow2(device.MinimumBlockSize));
        Assert.True(device.PreferredBlockSize >= device.MinimumBlockSize);
        Assert.False(device.CanSendFile);
        Assert.False(device.Capabilities.HasFlag(BlockDeviceCapabilities.Cache));
        Assert.True(device.Capabilities.HasFlag(BlockDeviceCapabilities.FastZero));

        // The kernel's own view of the descriptor (the "flags:" line of fdinfo is octal).
        var fdinfo = await File.ReadAllLinesAsync($"/proc/self/fdinfo/{device.Handle.DangerousGetHandle()}");
        var flags = Convert.ToInt32(fdinfo.Single(l => l.StartsWith("flags:", StringComparison.Ordinal))["flags:".Length..].Trim(), 8);
        Assert.NotEqual(0, flags & Engine.Blocks.Native.LibC.O_DIRECT);
    }

    [Fact]
    public async Task Unaligned_buffers_and_lengths_round_trip()
    {
        const int size = 1 << 20;
        var path = _temp.CreateSparseFile(size);
        var shadow = new byte[size];
        await using (var device = FileBlockDevice.Open(path, Direct))
        {
            var block = device.MinimumBlockSize;

            // Misaligned memory (one byte into an array) and a length with a sub-block tail.
            var backing = TestData.Random((3 * block) + 101, 1);
            var source = backing.AsMemory(1);
            await device.WriteAsync(block, source);
            source.Span.CopyTo(shadow.AsSpan(block));

            var into = new byte[source.Length + 3];
            await device.ReadAsync(block, into.AsMemory(3));
            Assert.Equal(source.ToArray(), into[3..]);

            // Aligned memory and length take the zero-copy path.
            using (var aligned = BufferPool.Shared.Rent(64 << 10))
            {
                TestData.Random(aligned.Length, 2).CopyTo(aligned.Span);
                await device.WriteAsync(128 << 10, aligned.Memory, WriteFlags.Fua);
                aligned.Span.CopyTo(shadow.AsSpan(128 << 10));
                aligned.Span.Clear();
                await device.ReadAsync(128 << 10, aligned.Memory);
                Assert.Equal(shadow.AsSpan(128 << 10, aligned.Length).ToArray(), aligned.Span.ToArray());
            }

            // Bigger than one bounce buffer, misaligned.
            var large = TestData.Random((5 << 20) / 8, 3);
            var largeBacking = new byte[large.Length + 1];
            large.CopyTo(largeBacking, 1);
            await device.WriteAsync(256 << 10, largeBacking.AsMemory(1));
            large.CopyTo(shadow, 256 << 10);

            Assert.Equal(shadow, await TestData.ReadAllAsync(device, 0, size));
        }

        // What went through O_DIRECT and what went through the buffered tail descriptor agree on disk.
        Assert.Equal(shadow, await File.ReadAllBytesAsync(path));
    }

    [Fact]
    public async Task The_tail_of_a_file_whose_size_is_not_block_aligned_neither_extends_nor_corrupts_it()
    {
        const int size = 10_000;
        var path = Path.Combine(_temp.Path, "odd.img");
        var content = TestData.Random(size, 4);
        await File.WriteAllBytesAsync(path, content);
        await using (var device = FileBlockDevice.Open(path, Direct))
        {
            var lastBlock = size / device.MinimumBlockSize * device.MinimumBlockSize;
            Assert.Equal(content[lastBlock..], await TestData.ReadAllAsync(device, lastBlock, size - lastBlock));

            var tail = TestData.Random(size - lastBlock, 5);
            await device.WriteAsync(lastBlock, tail);
            tail.CopyTo(content, lastBlock);
            Assert.Equal(content, await TestData.ReadAllAsync(device, 0, size));
        }

        Assert.Equal(size, new FileInfo(path).Length);
        Assert.Equal(content, await File.ReadAllBytesAsync(path));
    }

    [Fact]
    public async Task Unaligned_offsets_are_refused_with_EINVAL()
    {
        var path = _temp.CreateSparseFile(1 << 20);
        await using var device = FileBlockDevice.Open(path, Direct);

        var read = await Assert.ThrowsAsync<BlockDeviceException>(() => device.ReadAsync(100, new byte[4096]).AsTask());
        Assert.Equal(Errno.EINVAL, read.Errno);
        Assert.Contains(path, read.Message, StringComparison.Ordinal);
        var write = await Assert.ThrowsAsync<BlockDeviceException>(() => device.WriteAsync(device.MinimumBlockSize + 1, new byte[4096]).AsTask());
        Assert.Equal(Errno.EINVAL, write.Errno);
        Assert.True(TestData.IsZero(await TestData.ReadAllAsync(device, 0, 1 << 20)));
    }

    [Fact]
    public async Task Zeroing_and_extents_work_in_direct_mode()
    {
        var path = _temp.CreateSparseFile(1 << 20);
        await using var device = FileBlockDevice.Open(path, Direct);
        await device.WriteAsync(0, TestData.Random(1 << 20, 6));
        await device.WriteZeroesAsync(256 << 10, 256 << 10, WriteZeroesFlags.MayPunchHole | WriteZeroesFlags.FastOnly);

        Assert.True(TestData.IsZero(await TestData.ReadAllAsync(device, 256 << 10, 256 << 10)));
        Assert.Equal(
            new[]
            {
                new Extent(0, 256 << 10, ExtentFlags.Data),
                new Extent(256 << 10, 256 << 10, ExtentFlags.HoleZero),
                new Extent(512 << 10, 512 << 10, ExtentFlags.Data),
            },
            await TestData.AllExtentsAsync(device, 0, 1 << 20));
    }

    [Fact]
    public async Task Slow_zeroing_at_unaligned_offsets_works_in_direct_mode()
    {
        var path = _temp.CreateSparseFile(1 << 20);
        await using var device = FileBlockDevice.Open(path, Direct with { DisableFallocate = true });
        var data = TestData.Random(1 << 20, 7);
        await device.WriteAsync(0, data);

        await device.WriteZeroesAsync(1000, 300_000, WriteZeroesFlags.None);

        var back = await TestData.ReadAllAsync(device, 0, 1 << 20);
        Assert.Equal(data[..1000], back[..1000]);
        Assert.True(TestData.IsZero(back.AsSpan(1000, 300_000)));
        Assert.Equal(data[301_000..], back[301_000..]);
    }
}
