using System.Diagnostics;
using System.Runtime.CompilerServices;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Formats;
using Engine.Backup.Transfer;
using Engine.Blocks.Buffers;
using Engine.Blocks.Work;
using Engine.Sources;

namespace Engine.Backup.VmBackup;

/// <summary>
/// Backs up one disk into fixed-size chunks. A planner walks the ranges to read (dirty regions in an incremental
/// backup, data ranges in a full one) and hands each touched chunk to a pool of workers; every other chunk keeps
/// its base digest (the previous snapshot's chunk, or the zero chunk) without any source read.
/// </summary>
internal sealed class DiskBackupJob
{
    private readonly BackupRepository _repository;
    private readonly IVolumeSource _source;
    private readonly DeviceIndex? _previous;
    private readonly VmBackupOptions _options;
    private readonly BackupCounters _counters;
    private readonly BandwidthLimiter _limiter;
    private readonly Stopwatch _clock;
    private readonly int _chunkSize;
    private readonly ChunkDigest[] _digests;
    private readonly bool[] _processed;
    private SourceDiscarder? _discarder;

    public DiskBackupJob(BackupRepository repository, IVolumeSource source, DeviceIndex? previous, VmBackupOptions options,
        BackupCounters counters, BandwidthLimiter limiter, Stopwatch clock)
    {
        _repository = repository;
        _source = source;
        _previous = previous;
        _options = options;
        _counters = counters;
        _limiter = limiter;
        _clock = clock;
        _chunkSize = repository.ChunkSize;
        var count = checked((int)((source.Size + _chunkSize - 1) / _chunkSize));
        _digests = new ChunkDigest[count];
        _processed = new bool[count];
        for (var i = 0; i < count; i++)
        {
            _digests[i] = previous is null ? ChunkDigest.Zero : previous[i];
        }
    }

    /// <summary>The digests, in order, once <see cref="RunAsync"/> finished.</summary>
    public ReadOnlySpan<ChunkDigest> Digests => _digests;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var workers = _options.Parallelism > 0 ? _options.Parallelism : Math.Max(2, Environment.ProcessorCount * 2);
        using var discarder = new SourceDiscarder(_source, _repository, _options.DiscardBatchBytes, _options.DiscardSource);
        _discarder = discarder;
        await using (var pipeline = new WorkerPipeline<ChunkWork>(workers, workers * 2, ProcessAsync, discard: null, cancellationToken))
        {
            // The first failure cancels the rest (a dead source never leaves workers waiting on it) and is the one thrown.
            await pipeline.RunAsync(PlanAsync).ConfigureAwait(false);
        }

        AccountUntouchedChunks();
        await discarder.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task PlanAsync(WorkerPipeline<ChunkWork> pipeline, CancellationToken cancellationToken)
    {
        var ranges = _previous is not null ? _source.GetDirtyRegionsAsync(cancellationToken) : _source.GetDataRangesAsync(cancellationToken);
        ChunkWork? current = null;
        await foreach (var range in ranges.ConfigureAwait(false))
        {
            if (range.Offset < 0 || range.Length <= 0 || range.End > _source.Size)
            {
                throw new InvalidDataException($"{_source.Device}: the source reported range {range.Offset}+{range.Length} outside its size {_source.Size}");
            }

            var offset = range.Offset;
            while (offset < range.End)
            {
                var index = (int)(offset / _chunkSize);
                if (current is not null && current.Index != index)
                {
                    if (index < current.Index)
                    {
                        throw new InvalidDataException($"{_source.Device}: the source reported ranges out of order at {range.Offset}");
                    }

                    await pipeline.SubmitAsync(current).ConfigureAwait(false);
                    current = null;
                }

                if (current is null)
                {
                    var chunkOffset = (long)index * _chunkSize;
                    var baseChecksum = _previous?.PayloadChecksum(index) ?? ChunkStore.UnknownPayloadChecksum;
                    current = new ChunkWork(index, chunkOffset, (int)Math.Min(_chunkSize, _source.Size - chunkOffset), _digests[index], baseChecksum);
                }

                var end = Math.Min(range.End, current.Offset + current.Length);
                current.Add(offset, end - offset);
                _counters.Planned(end - offset);
                offset = end;
            }
        }

        if (current is not null)
        {
            await pipeline.SubmitAsync(current).ConfigureAwait(false);
        }
    }

    /// <summary>Reads, hashes and stores one chunk, then lets the source discard what it read.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ProcessAsync(ChunkWork work, CancellationToken cancellationToken)
    {
        await StoreChunkAsync(work, cancellationToken).ConfigureAwait(false);
        await _discarder!.AddAsync(work.Ranges, cancellationToken).ConfigureAwait(false);
        Report();
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask StoreChunkAsync(ChunkWork work, CancellationToken cancellationToken)
    {
        await _limiter.WaitAsync(work.BytesToRead, cancellationToken).ConfigureAwait(false);
        if (work.CoversWholeChunk && _source.TryGetMapped(work.Offset, work.Length, out var mapped))
        {
            // Hashed and compressed straight out of the page cache.
            _counters.Read(work.BytesToRead);
            _digests[work.Index] = await StoreAsync(mapped, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            // The chunk is received behind room for its header, so a chunk stored raw goes from the socket to the
            // disk without a copy (ChunkFile.EncodeInFrame).
            using var frame = BufferPool.Shared.Rent(ChunkHeader.Size + work.Length);
            var memory = frame.Memory.Slice(ChunkHeader.Size, work.Length);
            if (!work.CoversWholeChunk)
            {
                LoadBase(work, memory.Span);
            }

            // All ranges of the chunk at once: the scattered 64 KiB extents of an incremental backup would
            // otherwise cost one round trip each.
            await _source.ReadRangesAsync(work.Offset, work.Ranges, memory, cancellationToken).ConfigureAwait(false);
            _counters.Read(work.BytesToRead);
            // Only the local chunk files take a frame; an object store seals and uploads the content itself.
            _digests[work.Index] = _repository.Chunks is ChunkStore local
                ? StoreFrame(local, frame.Span[..(ChunkHeader.Size + work.Length)], work.Length)
                : await StoreAsync(memory, cancellationToken).ConfigureAwait(false);
        }

        _processed[work.Index] = true;
        _source.ReleaseMapped(work.Offset, work.Length);
    }

    /// <summary>The part of a partly dirty chunk that did not change comes from the previous snapshot.</summary>
    private void LoadBase(ChunkWork work, Span<byte> destination)
    {
        if (work.Base.IsZero)
        {
            destination.Clear();
            return;
        }

        // Checked against the previous index like a restore: a swapped chunk must not seep into the new one.
        var length = _repository.Chunks.Read(work.Base, work.BasePayloadChecksum, destination);
        if (length != work.Length)
        {
            throw new InvalidDataException($"{_source.Device}: chunk {work.Base} of the previous snapshot holds {length} bytes, expected {work.Length}");
        }
    }

    private async ValueTask<ChunkDigest> StoreAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        if (IsZeroChunk(data.Span))
        {
            return ChunkDigest.Zero;
        }

        var digest = ChunkDigest.Compute(data.Span);
        Count(await _repository.Chunks.PutAsync(digest, data, cancellationToken).ConfigureAwait(false), data.Length);
        return digest;
    }

    /// <summary>Stores a chunk received into a frame (its content after <see cref="ChunkHeader.Size"/> bytes).</summary>
    private ChunkDigest StoreFrame(ChunkStore chunks, Span<byte> frame, int length)
    {
        var data = frame.Slice(ChunkHeader.Size, length);
        if (IsZeroChunk(data))
        {
            return ChunkDigest.Zero;
        }

        var digest = ChunkDigest.Compute(data);
        Count(chunks.PutFrame(digest, frame, length), length);
        return digest;
    }

    /// <summary>An all-zero chunk is recorded as such (and counted): never hashed, compressed or stored.</summary>
    private bool IsZeroChunk(ReadOnlySpan<byte> data)
    {
        if (data.ContainsAnyExcept((byte)0))
        {
            return false;
        }

        _counters.Zero();
        return true;
    }

    private void Count(ChunkPutResult result, int length)
    {
        if (result.Stored)
        {
            _counters.Stored(length, result.StoredBytes);
        }
        else
        {
            _counters.Reused(length);
        }
    }

    /// <summary>
    /// Chunks no range touched keep their base: the zero chunk, or the previous snapshot's chunk, which the snapshot
    /// writer touches (and checks is still there) when the device is added.
    /// </summary>
    private void AccountUntouchedChunks()
    {
        for (var i = 0; i < _digests.Length; i++)
        {
            if (_processed[i])
            {
                continue;
            }

            if (_digests[i].IsZero)
            {
                _counters.Zero();
            }
            else
            {
                _counters.Reused((int)Math.Min(_chunkSize, _source.Size - ((long)i * _chunkSize)));
            }
        }
    }

    private void Report() =>
        _options.Progress?.Report(new BackupProgress(_source.Device, _counters.BytesToRead, _counters.BytesRead, _counters.BytesReused, _counters.BytesStored, _clock.Elapsed));
}
