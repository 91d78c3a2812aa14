using Engine.Blocks;
using Engine.Nbd.Server.MetaContexts;

namespace Engine.Nbd.Tests.Infrastructure;

/// <summary>A decorator whose reads take <paramref name="delay"/>: keeps requests in flight for shutdown tests.</summary>
internal sealed class SlowReadDevice(IBlockDevice inner, TimeSpan delay) : IBlockDevice
{
    private int _readsStarted;
    private int _readsFinished;

    public int ReadsStarted => Volatile.Read(ref _readsStarted);

    public int ReadsFinished => Volatile.Read(ref _readsFinished);

    public long Size => inner.Size;

    public BlockDeviceCapabilities Capabilities => inner.Capabilities;

    public int MinimumBlockSize => inner.MinimumBlockSize;

    public int PreferredBlockSize => inner.PreferredBlockSize;

    public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _readsStarted);
        // Deliberately not cancellable: a graceful shutdown must wait for it.
        await Task.Delay(delay, CancellationToken.None);
        await inner.ReadAsync(offset, destination, cancellationToken);
        Interlocked.Increment(ref _readsFinished);
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, WriteFlags flags = WriteFlags.None, CancellationToken cancellationToken = default) =>
        inner.WriteAsync(offset, source, flags, cancellationToken);

    public ValueTask FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);

    public ValueTask TrimAsync(long offset, long length, WriteFlags flags = WriteFlags.None, CancellationToken cancellationToken = default) =>
        inner.TrimAsync(offset, length, flags, cancellationToken);

    public ValueTask WriteZeroesAsync(long offset, long length, WriteZeroesFlags flags, CancellationToken cancellationToken = default) =>
        inner.WriteZeroesAsync(offset, length, flags, cancellationToken);

    public ValueTask CacheAsync(long offset, long length, CancellationToken cancellationToken = default) => inner.CacheAsync(offset, length, cancellationToken);

    public ValueTask<long> GetExtentsAsync(long offset, long length, ExtentList extents, CancellationToken cancellationToken = default) =>
        inner.GetExtentsAsync(offset, length, extents, cancellationToken);

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}

/// <summary>
/// A fake <c>qemu:dirty-bitmap:NAME</c> context: alternating clean/dirty runs of <paramref name="granularity"/>
/// bytes (dirty = status 1), starting clean at offset 0.
/// </summary>
internal sealed class FakeDirtyBitmapContext(string name, long size, long granularity = 64 << 10) : IMetaContext
{
    public string Name { get; } = name;

    public static uint StatusAt(long offset, long granularity = 64 << 10) => (uint)(offset / granularity % 2);

    public ValueTask<long> GetExtentsAsync(long offset, long length, ExtentList extents, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(extents);
        var end = Math.Min(size, offset + length);
        var at = offset;
        // Report at most 64 runs per call, to exercise callers that loop.
        for (var i = 0; i < 64 && at < end; i++)
        {
            var runEnd = Math.Min(end, ((at / granularity) + 1) * granularity);
            extents.Add(at, runEnd - at, (ExtentFlags)StatusAt(at, granularity));
            at = runEnd;
        }

        return ValueTask.FromResult(at - offset);
    }
}

/// <summary>
/// A decorator that fails chosen operations: any request touching <c>[FaultOffset, FaultOffset+FaultLength)</c>
/// throws <see cref="Fault"/>. Also lets tests pick the advertised minimum block size.
/// </summary>
internal sealed class FaultyDevice(IBlockDevice inner) : IBlockDevice
{
    public long FaultOffset { get; init; } = -1;

    public long FaultLength { get; init; }

    /// <summary>What a faulting call throws; a fresh exception per call.</summary>
    public Func<Exception> Fault { get; init; } = () => new BlockDeviceException(Errno.EIO, "injected I/O error");

    public int? MinimumBlockSizeOverride { get; init; }

    public long Size => inner.Size;

    public BlockDeviceCapabilities Capabilities => inner.Capabilities;

    public int MinimumBlockSize => MinimumBlockSizeOverride ?? inner.MinimumBlockSize;

    public int PreferredBlockSize => Math.Max(inner.PreferredBlockSize, MinimumBlockSize);

    private void Check(long offset, long length)
    {
        if (FaultOffset >= 0 && offset < FaultOffset + FaultLength && offset + length > FaultOffset)
        {
            throw Fault();
        }
    }

    public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        Check(offset, destination.Length);
        return inner.ReadAsync(offset, destination, cancellationToken);
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, WriteFlags flags = WriteFlags.None, CancellationToken cancellationToken = default)
    {
        Check(offset, source.Length);
        return inner.WriteAsync(offset, source, flags, cancellationToken);
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);

    public ValueTask TrimAsync(long offset, long length, WriteFlags flags = WriteFlags.None, CancellationToken cancellationToken = default)
    {
        Check(offset, length);
        return inner.TrimAsync(offset, length, flags, cancellationToken);
    }

    public ValueTask WriteZeroesAsync(long offset, long length, WriteZeroesFlags flags, CancellationToken cancellationToken = default)
    {
        Check(offset, length);
        return inner.WriteZeroesAsync(offset, length, flags, cancellationToken);
    }

    public ValueTask CacheAsync(long offset, long length, CancellationToken cancellationToken = default) => inner.CacheAsync(offset, length, cancellationToken);

    public ValueTask<long> GetExtentsAsync(long offset, long length, ExtentList extents, CancellationToken cancellationToken = default)
    {
        Check(offset, length);
        return inner.GetExtentsAsync(offset, length, extents, cancellationToken);
    }

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
