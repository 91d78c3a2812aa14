using Engine.Blocks.Copying;
using Engine.Blocks.Devices;

namespace Engine.Blocks.Tests;

/// <summary>
/// The copier's walk over the source's extents: several windows, each fetched while the one before is copied, short
/// answers, a selection (the dirty-only read), and a failing extent query.
/// </summary>
public sealed class BlockCopierTests
{
    private const int Page = MemoryBlockDevice.PageSize;

    [Fact]
    public async Task An_empty_file_is_copied_as_nothing_without_asking_for_its_extents()
    {
        // A zero-size disk (an empty raw image, a restored 0-byte device) has no extents to ask for: files refuse a
        // zero-length block-status query (EINVAL), so the copy must not make one.
        using var temp = new TempDirectory();
        var sourcePath = temp.CreateSparseFile(0, "empty.raw");
        var targetPath = temp.CreateSparseFile(0, "copy.raw");
        await using var source = FileBlockDevice.Open(sourcePath, new FileBlockDeviceOptions { ReadOnly = true });
        await using var target = FileBlockDevice.Open(targetPath, FileBlockDeviceOptions.Default);

        var result = await BlockCopier.CopyAsync(source, target, new BlockCopyOptions { TargetIsZeroed = true });

        Assert.Equal(0, result.Bytes);
        Assert.Equal(0, result.DataBytes);
        Assert.Equal(0, new FileInfo(targetPath).Length);
    }

    [Fact]
    public async Task Sparse_source_over_several_extent_windows_is_copied_byte_exact_and_stays_sparse()
    {
        // 3 GiB: the first window (64 MiB), a full 1 GiB window fetched ahead, and a short one at the end, with data
        // on both sides of every window boundary.
        const long size = 3L << 30;
        await using var source = new MemoryBlockDevice(size);
        await using var target = new MemoryBlockDevice(size);
        long[] offsets = [0, (64L << 20) - Page, 64L << 20, (1L << 30) + (64L << 20) - Page, (1L << 30) + (64L << 20), 2L << 30, size - Page];
        for (var i = 0; i < offsets.Length; i++)
        {
            await source.WriteAsync(offsets[i], TestData.Random(Page, 100 + i));
        }

        var result = await BlockCopier.CopyAsync(source, target, new BlockCopyOptions { TargetIsZeroed = true, RequestsInFlight = 8 });

        Assert.Equal(size, result.Bytes);
        Assert.Equal(offsets.Length * (long)Page, result.DataBytes);
        Assert.Equal(size - result.DataBytes, result.ZeroBytes);
        Assert.Equal(source.AllocatedPages, target.AllocatedPages);
        for (var i = 0; i < offsets.Length; i++)
        {
            Assert.Equal(TestData.Random(Page, 100 + i), await TestData.ReadAllAsync(target, offsets[i], Page));
        }
    }

    [Fact]
    public async Task Selection_answering_one_extent_per_call_copies_exactly_the_selected_ranges()
    {
        // Every call answers a prefix of one extent, so nearly every piece needs the window fetched ahead.
        const int size = 96 * Page;
        await using var source = new MemoryBlockDevice(size);
        await using var target = new MemoryBlockDevice(size);
        var content = TestData.Random(size, 7);
        await source.WriteAsync(0, content);
        var selected = new bool[size / Page];
        for (var i = 0; i < selected.Length; i++)
        {
            selected[i] = i % 3 == 0 || i % 7 == 1;
        }

        var calls = 0;
        ValueTask<long> OnePageAtATime(long offset, long length, ExtentList extents, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref calls);
            var page = (int)(offset / Page);
            var pageEnd = Math.Min((long)(page + 1) * Page, offset + length);
            extents.Add(offset, pageEnd - offset, selected[page] ? (ExtentFlags)1 : 0);
            return ValueTask.FromResult(pageEnd - offset);
        }

        var result = await BlockCopier.CopyAsync(source, target, new BlockCopyOptions { Selection = OnePageAtATime, RequestSize = Page / 4, RequestsInFlight = 4, TargetIsZeroed = true });

        var expected = new byte[size];
        for (var i = 0; i < selected.Length; i++)
        {
            if (selected[i])
            {
                content.AsSpan(i * Page, Page).CopyTo(expected.AsSpan(i * Page));
            }
        }

        Assert.Equal(selected.Count(s => s) * (long)Page, result.DataBytes);
        Assert.Equal(selected.Length, calls);
        Assert.Equal(expected, await TestData.ReadAllAsync(target, 0, size));
    }

    [Fact]
    public async Task A_failing_extent_query_fails_the_copy_with_its_error()
    {
        const int size = 64 * Page;
        await using var source = new MemoryBlockDevice(size);
        await using var target = new MemoryBlockDevice(size);
        await source.WriteAsync(0, TestData.Random(size, 9));
        var calls = 0;
        ValueTask<long> FailOnThirdCall(long offset, long length, ExtentList extents, CancellationToken cancellationToken)
        {
            if (Interlocked.Increment(ref calls) == 3)
            {
                throw new BlockDeviceException(Errno.EIO, $"extent query at {offset} failed");
            }

            extents.Add(offset, Math.Min(length, 4 * Page), (ExtentFlags)1);
            return ValueTask.FromResult(Math.Min(length, 4 * Page));
        }

        var copy = BlockCopier.CopyAsync(source, target, new BlockCopyOptions { Selection = FailOnThirdCall, RequestsInFlight = 4 });
        var finished = await Task.WhenAny(copy, Task.Delay(TimeSpan.FromSeconds(30)));
        Assert.Same(copy, finished);
        var error = await Assert.ThrowsAsync<BlockDeviceException>(() => copy);
        Assert.Equal(Errno.EIO, error.Errno);
        Assert.Contains("extent query at", error.Message, StringComparison.Ordinal);
        Assert.Equal(3, calls);
    }
}
