using Engine.Backup.Repository;
using Engine.Backup.Repository.Formats;
using Engine.Backup.Repository.Snapshots;
using Engine.Blocks;

namespace Engine.Backup.Restore;

/// <summary>
/// A disk of a snapshot as a read-only block device, for serving over NBD or copying out. Zero chunks read as
/// zeroes without touching the store and are reported as holes, so restores stay sparse and NBD clients get
/// OFFSET_HOLE replies. A reader moving forward through the disk has the next chunks decompressed ahead of it.
/// </summary>
public sealed class SnapshotVolumeDevice : IBlockDevice
{
    // Caps the chunks one extent query looks at.
    private const int MaxChunksPerExtentQuery = 1 << 16;

    // Caps the index entries one read-ahead looks through for chunks with data (a long run of zero chunks).
    private const int MaxReadAheadScan = 1024;

    private readonly DeviceIndex _index;
    private readonly ChunkCache _cache;
    private readonly int _readAhead;
    private int _lastChunk = -2;

    /// <summary>Opens a device over a snapshot's index.</summary>
    /// <param name="repository">The repository holding the chunks.</param>
    /// <param name="index">The device's index.</param>
    /// <param name="readAheadChunks">Chunks decompressed ahead of a sequential reader.</param>
    internal SnapshotVolumeDevice(BackupRepository repository, DeviceIndex index, int readAheadChunks = 4)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentNullException.ThrowIfNull(index);
        _index = index;
        // An object store's chunk costs a round trip: its store asks for more GETs in flight than a local disk needs.
        _readAhead = Math.Max(Math.Max(0, readAheadChunks), repository.Chunks.ReadAhead);
        _cache = new ChunkCache(repository.Chunks, Math.Max(8, (_readAhead * 2) + 4));
    }

    /// <summary>Opens disk <paramref name="device"/> of a snapshot as a read-only block device.</summary>
    /// <param name="repository">The repository holding the snapshot; it must stay open while the device is used.</param>
    /// <param name="snapshot">The snapshot.</param>
    /// <param name="device">The device name in the snapshot (<c>drive-scsi0</c>).</param>
    /// <param name="readAheadChunks">Chunks decompressed ahead of a sequential reader.</param>
    /// <exception cref="SnapshotNotFoundException">No such complete snapshot.</exception>
    /// <exception cref="DeviceNotFoundException">The snapshot has no such device (the message lists those it has).</exception>
    /// <exception cref="RepositoryCorruptException">The device's index is truncated, damaged or does not match the manifest.</exception>
    public static SnapshotVolumeDevice Open(BackupRepository repository, SnapshotId snapshot, string device, int readAheadChunks = 4)
    {
        ArgumentNullException.ThrowIfNull(repository);
        return new SnapshotVolumeDevice(repository, repository.ReadIndex(snapshot, device), readAheadChunks);
    }

    /// <summary>Chunks a reader had to wait for in full, because read-ahead had not started them (for tests and counters).</summary>
    internal int DemandLoads => _cache.DemandLoads;

    /// <summary>The device name in the snapshot.</summary>
    public string Device => _index.Device;

    /// <inheritdoc />
    public long Size => _index.Size;

    /// <inheritdoc />
    public BlockDeviceCapabilities Capabilities =>
        BlockDeviceCapabilities.ReadOnly | BlockDeviceCapabilities.Extents | BlockDeviceCapabilities.Cache | BlockDeviceCapabilities.MultiConnSafe;

    /// <inheritdoc />
    public int MinimumBlockSize => 1;

    /// <inheritdoc />
    public int PreferredBlockSize => 64 << 10;

    /// <inheritdoc />
    public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        CheckRange(offset, destination.Length);
        var chunkSize = _index.ChunkSize;
        while (!destination.IsEmpty)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var chunk = (int)(offset / chunkSize);
            var within = (int)(offset - ((long)chunk * chunkSize));
            var count = Math.Min(destination.Length, ChunkLength(chunk) - within);
            var digest = _index[chunk];
            if (digest.IsZero)
            {
                destination.Span[..count].Clear();
            }
            else
            {
                using var lease = await _cache.GetAsync(chunk, digest, _index.PayloadChecksum(chunk), ChunkLength(chunk)).ConfigureAwait(false);
                lease.Data.Slice(within, count).CopyTo(destination.Span);
            }

            ReadAhead(chunk);
            offset += count;
            destination = destination[count..];
        }
    }

    /// <inheritdoc />
    public ValueTask<long> GetExtentsAsync(long offset, long length, ExtentList extents, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(extents);
        CheckRange(offset, length);
        var chunkSize = _index.ChunkSize;
        var end = offset + length;
        var position = offset;
        for (var chunk = (int)(offset / chunkSize); position < end && chunk < _index.ChunkCount; chunk++)
        {
            if (chunk - (int)(offset / chunkSize) >= MaxChunksPerExtentQuery)
            {
                break;
            }

            var chunkEnd = Math.Min(((long)chunk * chunkSize) + ChunkLength(chunk), end);
            extents.Add(position, chunkEnd - position, _index[chunk].IsZero ? ExtentFlags.Hole | ExtentFlags.Zero : ExtentFlags.Data);
            position = chunkEnd;
        }

        return ValueTask.FromResult(position - offset);
    }

    /// <inheritdoc />
    public ValueTask CacheAsync(long offset, long length, CancellationToken cancellationToken = default)
    {
        CheckRange(offset, length);
        var chunkSize = _index.ChunkSize;
        for (var position = offset; position < offset + length; position = ((position / chunkSize) + 1) * chunkSize)
        {
            var chunk = (int)(position / chunkSize);
            if (!_index[chunk].IsZero)
            {
                _cache.Prefetch(chunk, _index[chunk], _index.PayloadChecksum(chunk), ChunkLength(chunk));
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, WriteFlags flags = WriteFlags.None, CancellationToken cancellationToken = default) =>
        throw ReadOnly();

    /// <inheritdoc />
    public ValueTask FlushAsync(CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    /// <inheritdoc />
    public ValueTask TrimAsync(long offset, long length, WriteFlags flags = WriteFlags.None, CancellationToken cancellationToken = default) =>
        throw ReadOnly();

    /// <inheritdoc />
    public ValueTask WriteZeroesAsync(long offset, long length, WriteZeroesFlags flags, CancellationToken cancellationToken = default) =>
        throw ReadOnly();

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        _cache.Dispose();
        return ValueTask.CompletedTask;
    }

    private void ReadAhead(int chunk)
    {
        var previous = Interlocked.Exchange(ref _lastChunk, chunk);

        // Only a reader moving forward gets read-ahead: one that reads in order, or several requests in flight over a
        // window (qemu-img convert keeps 8 going, out of order), skipping holes (so a jump forward is still in order).
        if (_readAhead == 0 || chunk < previous - _readAhead)
        {
            return;
        }

        // The next chunks that hold data: zero chunks cost nothing to read, so they do not count.
        var wanted = _readAhead;
        for (var next = chunk + 1; wanted > 0 && next < _index.ChunkCount && next <= chunk + MaxReadAheadScan; next++)
        {
            if (!_index[next].IsZero)
            {
                _cache.Prefetch(next, _index[next], _index.PayloadChecksum(next), ChunkLength(next));
                wanted--;
            }
        }
    }

    private int ChunkLength(int chunk) => (int)Math.Min(_index.ChunkSize, _index.Size - ((long)chunk * _index.ChunkSize));

    private void CheckRange(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset > Size - length)
        {
            throw new BlockDeviceException(Errno.EINVAL, $"{_index.Device}: range {offset}+{length} is outside the size {Size}");
        }
    }

    private BlockDeviceException ReadOnly() => new(Errno.EROFS, $"{_index.Device}: a snapshot is read-only");
}
