using Engine.Blocks.Devices;

namespace Engine.Blocks.Tests;

/// <summary>Buffered file I/O, opening, errors and lifetime of <see cref="FileBlockDevice"/>.</summary>
public sealed class FileBlockDeviceTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Random_writes_at_unaligned_offsets_read_back_byte_exact()
    {
        const int size = (1 << 20) + 123;
        var path = _temp.CreateSparseFile(size);
        var shadow = new byte[size];
        var random = new Random(42);
        await using (var device = FileBlockDevice.Open(path, FileBlockDeviceOptions.Default))
        {
            Assert.Equal(size, device.Size);
            for (var i = 0; i < 200; i++)
            {
                var length = random.Next(1, 20_000);
                var offset = random.Next(0, size - length + 1);
                var data = TestData.Random(length, i);
                await device.WriteAsync(offset, data);
                data.CopyTo(shadow, offset);

                var readOffset = random.Next(0, size - length + 1);
                Assert.Equal(shadow[readOffset..(readOffset + length)], await TestData.ReadAllAsync(device, readOffset, length));
            }

            Assert.Equal(shadow, await TestData.ReadAllAsync(device, 0, size));
            await device.WriteAsync(size - 7, new byte[] { 1, 2, 3, 4, 5, 6, 7 }, WriteFlags.Fua);
            new byte[] { 1, 2, 3, 4, 5, 6, 7 }.CopyTo(shadow, size - 7);
            await device.FlushAsync();
            await device.CacheAsync(0, size);
        }

        Assert.Equal(shadow, await File.ReadAllBytesAsync(path));
    }

    [Fact]
    public async Task Streaming_writes_land_byte_exact_across_the_eviction_lag()
    {
        // 96 MiB written front to back in 1 MiB pieces: past the 64 MiB lag, streaming mode evicts what it wrote.
        const int piece = 1 << 20;
        const int pieces = 96;
        var path = _temp.CreateSparseFile((long)piece * pieces);
        await using (var device = FileBlockDevice.Open(path, new FileBlockDeviceOptions { StreamingWrites = true }))
        {
            for (var i = 0; i < pieces; i++)
            {
                await device.WriteAsync((long)i * piece, TestData.Random(piece, i));
            }

            await device.FlushAsync();
        }

        await using (var check = FileBlockDevice.Open(path, new FileBlockDeviceOptions { ReadOnly = true }))
        {
            for (var i = 0; i < pieces; i += 7)
            {
                Assert.Equal(TestData.Random(piece, i), await TestData.ReadAllAsync(check, (long)i * piece, piece));
            }
        }
    }

    [Fact]
    public async Task Short_read_at_end_of_file_is_zero_filled()
    {
        var path = Path.Combine(_temp.Path, "shrinks.img");
        await File.WriteAllBytesAsync(path, Enumerable.Repeat((byte)0x5A, 8192).ToArray());
        await using var device = FileBlockDevice.Open(path, FileBlockDeviceOptions.Default);
        using (var stream = File.OpenWrite(path))
        {
            stream.SetLength(4096);
        }

        var buffer = Enumerable.Repeat((byte)0xCC, 8192).ToArray();
        await device.ReadAsync(0, buffer);
        Assert.All(buffer[..4096], b => Assert.Equal(0x5A, b));
        Assert.True(TestData.IsZero(buffer.AsSpan(4096)));
    }

    [Fact]
    public async Task Capabilities_of_a_buffered_file()
    {
        var path = _temp.CreateSparseFile(1 << 20);
        await using var device = FileBlockDevice.Open(path, FileBlockDeviceOptions.Default);

        // /tmp here is ext4, which can punch holes; the probe must have found that.
        var expected = BlockDeviceCapabilities.Flush | BlockDeviceCapabilities.Fua | BlockDeviceCapabilities.Trim
            | BlockDeviceCapabilities.WriteZeroes | BlockDeviceCapabilities.FastZero | BlockDeviceCapabilities.Cache
            | BlockDeviceCapabilities.MultiConnSafe | BlockDeviceCapabilities.Extents;
        Assert.Equal(expected, device.Capabilities);
        Assert.Equal(1, device.MinimumBlockSize);
        Assert.True(device.PreferredBlockSize >= 512 && int.IsPow2(device.PreferredBlockSize));
        Assert.True(device.CanSendFile);
        Assert.False(device.Handle.IsInvalid);
        Assert.Equal(path, device.Path);
    }

    [Fact]
    public void Missing_file_throws_FileNotFoundException_naming_the_path()
    {
        var path = Path.Combine(_temp.Path, "nope.img");
        var e = Assert.Throws<FileNotFoundException>(() => FileBlockDevice.Open(path, FileBlockDeviceOptions.Default));
        Assert.Equal(path, e.FileName);
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_directory_is_refused_with_EINVAL()
    {
        var e = Assert.Throws<BlockDeviceException>(() => FileBlockDevice.Open(_temp.Path, new FileBlockDeviceOptions { ReadOnly = true }));
        Assert.Equal(Errno.EINVAL, e.Errno);
        Assert.Contains(_temp.Path, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Read_only_device_reads_but_refuses_changes_with_EPERM()
    {
        var path = Path.Combine(_temp.Path, "ro.img");
        var content = TestData.Random(65536, 7);
        await File.WriteAllBytesAsync(path, content);
        await using var device = FileBlockDevice.Open(path, new FileBlockDeviceOptions { ReadOnly = true });

        Assert.True(device.Capabilities.HasFlag(BlockDeviceCapabilities.ReadOnly));
        Assert.False(device.Capabilities.HasFlag(BlockDeviceCapabilities.Trim));
        Assert.False(device.Capabilities.HasFlag(BlockDeviceCapabilities.FastZero));
        Assert.Equal(content, await TestData.ReadAllAsync(device, 0, content.Length));

        Assert.Equal(Errno.EPERM, (await Assert.ThrowsAsync<BlockDeviceException>(() => device.WriteAsync(0, new byte[1]).AsTask())).Errno);
        Assert.Equal(Errno.EPERM, (await Assert.ThrowsAsync<BlockDeviceException>(() => device.TrimAsync(0, 4096).AsTask())).Errno);
        Assert.Equal(Errno.EPERM, (await Assert.ThrowsAsync<BlockDeviceException>(
            () => device.WriteZeroesAsync(0, 4096, WriteZeroesFlags.MayPunchHole).AsTask())).Errno);
        Assert.Equal(content, await File.ReadAllBytesAsync(path));
    }

    [Fact]
    public async Task Out_of_range_requests_fail_with_EINVAL_or_ENOSPC()
    {
        var path = _temp.CreateSparseFile(8192);
        await using var device = FileBlockDevice.Open(path, FileBlockDeviceOptions.Default);

        Assert.Equal(Errno.EINVAL, (await Assert.ThrowsAsync<BlockDeviceException>(() => device.ReadAsync(8000, new byte[193]).AsTask())).Errno);
        Assert.Equal(Errno.EINVAL, (await Assert.ThrowsAsync<BlockDeviceException>(() => device.ReadAsync(-1, new byte[1]).AsTask())).Errno);
        Assert.Equal(Errno.ENOSPC, (await Assert.ThrowsAsync<BlockDeviceException>(() => device.WriteAsync(8192, new byte[1]).AsTask())).Errno);
        Assert.Equal(Errno.ENOSPC, (await Assert.ThrowsAsync<BlockDeviceException>(
            () => device.WriteZeroesAsync(4096, long.MaxValue, WriteZeroesFlags.None).AsTask())).Errno);
        Assert.Equal(Errno.EINVAL, (await Assert.ThrowsAsync<BlockDeviceException>(() => device.TrimAsync(0, 8193).AsTask())).Errno);
        Assert.Equal(Errno.EINVAL, (await Assert.ThrowsAsync<BlockDeviceException>(
            () => device.GetExtentsAsync(8192, 1, new ExtentList()).AsTask())).Errno);
        Assert.Equal(8192, new FileInfo(path).Length);
    }

    [Fact]
    public async Task Dispose_closes_the_handle_and_is_idempotent()
    {
        var path = _temp.CreateSparseFile(4096);
        var device = FileBlockDevice.Open(path, FileBlockDeviceOptions.Default);
        var handle = device.Handle;
        await device.DisposeAsync();
        await device.DisposeAsync();
        Assert.True(handle.IsClosed);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => device.ReadAsync(0, new byte[1]).AsTask());
    }
}
