using System.Diagnostics;
using Engine.Blocks.Devices;
using Engine.Blocks.Fuse;
using Engine.Blocks.Native;

namespace Engine.Blocks.Tests;

/// <summary>
/// <see cref="FuseBlockFile"/>'s own FUSE mount: it never unmounts a filesystem it did not leave behind itself, a
/// failing read answers the reader whatever the error callback does, and disposing closes /dev/fuse only after the
/// serving threads are gone. Needs root (mount, umount2) and /dev/fuse.
/// </summary>
public sealed class FuseBlockFileTests
{
    private const int Size = 1 << 20;

    [Fact]
    public async Task MountAsync_OverAForeignMount_RefusesNamingItAndLeavesItMounted()
    {
        RequireFuse();
        using var temp = new TempDirectory();
        var target = Path.Combine(temp.Path, "mnt");
        Directory.CreateDirectory(target);
        Run("/usr/bin/mount", "-t", "tmpfs", "-o", "size=1m", "engine-test", target);
        try
        {
            var marker = Path.Combine(target, "user-data");
            await File.WriteAllTextAsync(marker, "the user's files");
            await using var device = new FaultyDevice();

            var refused = await Assert.ThrowsAsync<IOException>(() => FuseBlockFile.MountAsync(target, "disk.raw", device));

            Assert.Contains(target, refused.Message, StringComparison.Ordinal);
            Assert.Contains("tmpfs", refused.Message, StringComparison.Ordinal);
            Assert.Equal("tmpfs", MountTable.FileSystemType(target));
            Assert.Equal("the user's files", await File.ReadAllTextAsync(marker));
        }
        finally
        {
            Run("/usr/bin/umount", target);
        }
    }

    [Fact]
    public async Task MountAsync_OverALiveExport_RefusesAndTheFirstKeepsServing()
    {
        RequireFuse();
        using var temp = new TempDirectory();
        var target = Path.Combine(temp.Path, "mnt");
        await using var device = new FaultyDevice();
        using var first = await FuseBlockFile.MountAsync(target, "disk.raw", device);
        Assert.Equal(MountTable.EngineFuseType, MountTable.FileSystemType(target));

        var refused = await Assert.ThrowsAsync<IOException>(() => FuseBlockFile.MountAsync(target, "disk.raw", device));

        Assert.Contains(target, refused.Message, StringComparison.Ordinal);
        Assert.Equal(device.Content, await File.ReadAllBytesAsync(first.Path));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task FailedRead_OnErrorThrows_ReaderGetsEioAndTheMountKeepsServing(bool completesLater)
    {
        RequireFuse();
        using var temp = new TempDirectory();
        await using var device = new FaultyDevice { FailFrom = Size / 2, FailLater = completesLater };
        var told = 0;
        var options = new FuseBlockFileOptions
        {
            OnError = (_, _) =>
            {
                Interlocked.Increment(ref told);
                throw new InvalidOperationException("the logger failed");
            },
        };
        using var file = await FuseBlockFile.MountAsync(Path.Combine(temp.Path, "mnt"), "disk.raw", device, options);

        var read = Task.Run(() =>
        {
            using var stream = new FileStream(file.Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.None);
            stream.Position = Size / 2;
            return stream.Read(new byte[4096]);
        });
        var failure = await Assert.ThrowsAsync<IOException>(() => read.WaitAsync(TimeSpan.FromSeconds(20)));

        Assert.Contains("Input/output error", failure.Message, StringComparison.Ordinal);
        Assert.True(told > 0);
        using var good = new FileStream(file.Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.None);
        var data = new byte[4096];
        good.ReadExactly(data);
        Assert.Equal(device.Content[..data.Length], data);
    }

    [Fact]
    public async Task Dispose_KeepsDevFuseOpenUntilTheServingThreadsHaveStopped()
    {
        RequireFuse();
        using var temp = new TempDirectory();
        var mountPoint = Path.Combine(temp.Path, "mnt");
        await using var device = new FaultyDevice();
        var before = FuseDescriptors();
        var file = await FuseBlockFile.MountAsync(mountPoint, "disk.raw", device);
        var ours = Assert.Single(FuseDescriptors().Except(before));

        // A serving thread stays inside an lseek until the device answers it.
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        device.ExtentsGate = gate.Task;
        var handle = File.OpenHandle(file.Path);
        var seek = Task.Run(() => LibC.LSeek(handle, 0, LibC.SEEK_HOLE));
        await device.ExtentsEntered.Task.WaitAsync(TimeSpan.FromSeconds(20));

        var disposed = Task.Run(file.Dispose);
        var deadline = Stopwatch.StartNew();
        while (MountTable.IsMountPoint(mountPoint) && deadline.Elapsed < TimeSpan.FromSeconds(20))
        {
            await Task.Delay(20);
        }

        try
        {
            Assert.False(MountTable.IsMountPoint(mountPoint), $"{mountPoint} is still mounted");

            // The mount is gone but a serving thread is still in the lseek: its descriptor must stay ours.
            Assert.Contains(ours, FuseDescriptors());
        }
        finally
        {
            gate.SetResult();
            Assert.Equal(Size, await seek.WaitAsync(TimeSpan.FromSeconds(20)));
            handle.Dispose();
            await disposed.WaitAsync(TimeSpan.FromSeconds(30));
        }

        Assert.DoesNotContain(ours, FuseDescriptors());
    }

    private static void RequireFuse() =>
        Assert.True(File.Exists("/dev/fuse"), "/dev/fuse is missing: FUSE mounts need the fuse kernel module (and the Debian package fuse3)");

    // This process's descriptors open on /dev/fuse.
    private static HashSet<string> FuseDescriptors() =>
        [.. Directory.EnumerateFileSystemEntries("/proc/self/fd")
            .Where(link => new FileInfo(link).LinkTarget == "/dev/fuse")
            .Select(Path.GetFileName)
            .OfType<string>()];

    private static void Run(string tool, params string[] arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(tool, arguments) { RedirectStandardError = true, UseShellExecute = false })!;
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{tool} {string.Join(' ', arguments)}: exit {process.ExitCode}: {stderr}");
    }

    // 1 MiB of non-zero bytes whose reads fail from FailFrom on (at once, or a moment later) and whose extent queries
    // wait for ExtentsGate when one is set.
    private sealed class FaultyDevice : IBlockDevice
    {
        private readonly MemoryBlockDevice _inner = new(FuseBlockFileTests.Size);

        public FaultyDevice()
        {
            Content = new byte[FuseBlockFileTests.Size];
            new Random(1604).NextBytes(Content);
            _inner.WriteAsync(0, Content).AsTask().GetAwaiter().GetResult();
        }

        public byte[] Content { get; }

        public long FailFrom { get; init; } = long.MaxValue;

        public bool FailLater { get; init; }

        public Task? ExtentsGate { get; set; }

        public TaskCompletionSource ExtentsEntered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public long Size => _inner.Size;

        public BlockDeviceCapabilities Capabilities => BlockDeviceCapabilities.ReadOnly | BlockDeviceCapabilities.Extents;

        public int MinimumBlockSize => 1;

        public int PreferredBlockSize => 4096;

        public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
        {
            if (offset + destination.Length <= FailFrom)
            {
                return _inner.ReadAsync(offset, destination, cancellationToken);
            }

            return FailLater
                ? new ValueTask(FailSoonAsync(offset))
                : throw new BlockDeviceException(Errno.EIO, $"bad sector at {offset}");
        }

        public ValueTask<long> GetExtentsAsync(long offset, long length, ExtentList extents, CancellationToken cancellationToken = default)
        {
            if (ExtentsGate is not { } gate)
            {
                return _inner.GetExtentsAsync(offset, length, extents, cancellationToken);
            }

            ExtentsEntered.TrySetResult();
            return WaitThenAsync(gate, offset, length, extents, cancellationToken);
        }

        public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, WriteFlags flags = WriteFlags.None, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public ValueTask FlushAsync(CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

        public ValueTask TrimAsync(long offset, long length, WriteFlags flags = WriteFlags.None, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public ValueTask WriteZeroesAsync(long offset, long length, WriteZeroesFlags flags, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public ValueTask CacheAsync(long offset, long length, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

        public ValueTask DisposeAsync() => _inner.DisposeAsync();

        private static async Task FailSoonAsync(long offset)
        {
            await Task.Delay(50);
            throw new BlockDeviceException(Errno.EIO, $"bad sector at {offset}");
        }

        private async ValueTask<long> WaitThenAsync(Task gate, long offset, long length, ExtentList extents, CancellationToken cancellationToken)
        {
            await gate;
            return await _inner.GetExtentsAsync(offset, length, extents, cancellationToken);
        }
    }
}
