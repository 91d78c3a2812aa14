using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.IO.Compression;
using System.Runtime.CompilerServices;
using Engine.Blocks;
using Engine.Blocks.Buffers;
using Engine.Blocks.Copying;
using Engine.Blocks.Work;

namespace Engine.Ova.Vmdk;

/// <summary>
/// Converts the marker stream of a streamOptimized VMDK: the producer of a <see cref="WorkerPipeline{T}"/> splits the
/// input into batches of whole grain blocks (no copy: each batch owns the buffer it was read into, and batches are
/// reused once written), and its workers inflate the grains in parallel and write them at their LBA. Grain order does not matter; the GD/GT blocks are skipped since every grain marker
/// carries its LBA. A footer, if present, must agree with the header; the stream may end without EOS.
/// </summary>
internal sealed class StreamOptimizedConverter
{
    private const int MarkerHeaderBytes = 12;
    private const uint MarkerEos = 0;
    private const uint MarkerFooter = 3;

    /// <summary>Metadata blocks bigger than this (sectors) are hostile: a GD for a 64 TiB disk is 1 MiB.</summary>
    private const ulong MaxMetadataSectors = 1 << 14;

    private readonly Stream _source;
    private readonly string _name;
    private readonly SparseExtentHeader _header;
    private readonly IBlockDevice _target;
    private readonly IProgress<long>? _progress;
    private readonly int _grainBytes;
    private readonly int _batchBytes;
    private readonly long _capacityBytes;
    private readonly ulong[]?[] _seenPages;
    private readonly ConcurrentQueue<Batch> _freeBatches = new();
    private long _consumed;

    public StreamOptimizedConverter(Stream source, string name, SparseExtentHeader header, long prologueBytes, IBlockDevice target, IProgress<long>? progress)
    {
        _source = source;
        _name = name;
        _header = header;
        _target = target;
        _progress = progress;
        _grainBytes = header.GrainBytes;
        _batchBytes = Math.Max(4 << 20, 4 * _grainBytes);
        _capacityBytes = header.CapacityBytes;
        _consumed = prologueBytes;
        var grains = (long)((header.Capacity + header.GrainSize - 1) / header.GrainSize);
        _seenPages = new ulong[]?[(grains + SeenPageBits - 1) / SeenPageBits];
    }

    private const int SeenPageBits = 1 << 18;

    /// <summary>Reads the marker stream and hands batches of grains to <paramref name="workers"/> inflating workers.</summary>
    /// <returns>Bytes of data written (zero grains excluded).</returns>
    public async Task<long> RunAsync(int workers, CancellationToken cancellationToken)
    {
        var inflaters = new List<GrainWorker>(workers);
        try
        {
            await using var pipeline = new WorkerPipeline<Batch>(workers, workers * 2, () => AddWorker(inflaters), ReturnBatch, cancellationToken);
            await pipeline.RunAsync(ReadAsync).ConfigureAwait(false);
        }
        finally
        {
            while (_freeBatches.TryDequeue(out var batch))
            {
                batch.Dispose();
            }
        }

        long written = 0;
        foreach (var inflater in inflaters)
        {
            written += inflater.DataBytes;
        }

        return written;
    }

    private GrainWorker AddWorker(List<GrainWorker> workers)
    {
        var worker = new GrainWorker(this);
        workers.Add(worker);
        return worker;
    }

    private async Task ReadAsync(WorkerPipeline<Batch> output, CancellationToken cancellationToken)
    {
        Batch? batch = RentBatch();
        try
        {
            var filled = 0;
            long pendingSkip = 0;
            var eof = false;
            var done = false;
            while (batch is not null)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var batchStart = _consumed - filled;
                if (!eof)
                {
                    var want = batch.Buffer.Length - filled;
                    // The source is the tar reader's forward-only stream, synchronous all the way down to a file read
                    // (mostly from the page cache): Stream's async fallback would only add a copy and a thread hop.
                    var read = _source.ReadAtLeast(batch.Buffer.Span[filled..], want, throwOnEndOfStream: false);
                    eof = read < want;
                    filled += read;
                    _consumed += read;
                    _progress?.Report(_consumed);
                }

                var pos = 0;
                if (pendingSkip > 0)
                {
                    var skip = (int)Math.Min(pendingSkip, filled);
                    pos = skip;
                    pendingSkip -= skip;
                }

                while (pendingSkip == 0 && filled - pos >= 512)
                {
                    var marker = batch.Buffer.Span[pos..];
                    var value = BinaryPrimitives.ReadUInt64LittleEndian(marker);
                    var size = BinaryPrimitives.ReadUInt32LittleEndian(marker[8..]);
                    var at = batchStart + pos;
                    if (size != 0)
                    {
                        if (size > 2L * _grainBytes)
                        {
                            throw Error(at, $"grain marker claims {size} compressed bytes for a {_grainBytes}-byte grain");
                        }

                        var total = Align512(MarkerHeaderBytes + size);
                        if (filled - pos < total)
                        {
                            if (eof)
                            {
                                throw Error(at, $"truncated: the grain needs {total} bytes, the stream ends after {filled - pos}");
                            }

                            break;
                        }

                        CheckLba(value, at);
                        batch.Grains.Add(new Grain(pos + MarkerHeaderBytes, (int)size, (long)value * 512));
                        pos += total;
                        continue;
                    }

                    var type = BinaryPrimitives.ReadUInt32LittleEndian(marker[12..]);
                    if (type == MarkerEos)
                    {
                        if (value != 0)
                        {
                            throw Error(at, $"end-of-stream marker with value {value}");
                        }

                        done = true;
                        break;
                    }

                    if (value > MaxMetadataSectors)
                    {
                        throw Error(at, $"metadata marker of type {type} claims {value} sectors");
                    }

                    var length = 512 + (long)value * 512;
                    if (type == MarkerFooter && value >= 1 && filled - pos >= 1024)
                    {
                        CheckFooter(batch.Buffer.Span.Slice(pos + 512, 512), at);
                    }

                    if (filled - pos >= length)
                    {
                        pos += (int)length;
                    }
                    else
                    {
                        pendingSkip = length - (filled - pos);
                        pos = filled;
                    }
                }

                if (eof && !done)
                {
                    if (pendingSkip > 0)
                    {
                        throw Error(_consumed, $"truncated inside a metadata block ({pendingSkip} bytes missing)");
                    }

                    if (batch.Buffer.Span[pos..filled].IndexOfAnyExcept((byte)0) >= 0)
                    {
                        throw Error(batchStart + pos, $"truncated: {filled - pos} trailing bytes do not form a marker");
                    }

                    done = true;
                }

                var next = done ? null : RentBatch();
                var leftover = filled - pos;
                if (next is not null)
                {
                    batch.Buffer.Span[pos..filled].CopyTo(next.Buffer.Span);
                }

                var current = batch;
                batch = next;
                filled = leftover;
                if (current.Grains.Count == 0)
                {
                    ReturnBatch(current);
                    continue;
                }

                // The pipeline owns the batch from here on, and returns it even if it fails.
                await output.SubmitAsync(current).ConfigureAwait(false);
            }
        }
        finally
        {
            if (batch is not null)
            {
                ReturnBatch(batch);
            }
        }
    }

    /// <summary>A batch whose buffer was written and handed back, or a new one: at most a few per worker are ever made.</summary>
    private Batch RentBatch()
    {
        if (_freeBatches.TryDequeue(out var batch))
        {
            batch.Grains.Clear();
            return batch;
        }

        return new Batch(_batchBytes);
    }

    private void ReturnBatch(Batch batch) => _freeBatches.Enqueue(batch);

    private void CheckLba(ulong lba, long at)
    {
        if (lba % _header.GrainSize != 0)
        {
            throw Error(at, $"grain LBA {lba} is not a multiple of the grain size {_header.GrainSize}");
        }

        if (lba >= _header.Capacity)
        {
            throw Error(at, $"grain LBA {lba} is past the capacity of {_header.Capacity} sectors");
        }

        var index = (long)(lba / _header.GrainSize);
        var page = _seenPages[index / SeenPageBits] ??= new ulong[SeenPageBits / 64];
        var bit = index % SeenPageBits;
        ref var word = ref page[bit / 64];
        var mask = 1UL << (int)(bit % 64);
        if ((word & mask) != 0)
        {
            throw Error(at, $"grain LBA {lba} appears twice");
        }

        word |= mask;
    }

    private void CheckFooter(ReadOnlySpan<byte> footer, long at)
    {
        SparseExtentHeader parsed;
        try
        {
            parsed = SparseExtentHeader.Parse(footer, _name, long.MaxValue);
        }
        catch (OvaFormatException e)
        {
            throw Error(at, "invalid footer: " + e.Message);
        }

        if (parsed.Capacity != _header.Capacity || parsed.GrainSize != _header.GrainSize)
        {
            throw Error(at, $"footer says capacity {parsed.Capacity} / grain {parsed.GrainSize}, the header {_header.Capacity} / {_header.GrainSize}");
        }
    }

    private static int Align512(long value) => (int)((value + 511) & ~511L);

    private OvaFormatException Error(long offset, string message) => new($"{_name}: at VMDK offset {offset}: {message}");

    private readonly record struct Grain(int DataStart, int DataLength, long Offset);

    /// <summary>A buffer of whole grain blocks and where each grain lies in it.</summary>
    private sealed class Batch : IDisposable
    {
        public Batch(int bytes) => Buffer = BufferPool.Shared.Rent(bytes);

        public NativeBuffer Buffer { get; }

        public List<Grain> Grains { get; } = new(64);

        public void Dispose() => Buffer.Dispose();
    }

    /// <summary>One inflating worker: its own inflater and run writer, so grains that follow each other go out in one write.</summary>
    private sealed class GrainWorker(StreamOptimizedConverter converter) : IPipelineWorker<Batch>, IDisposable
    {
        private readonly SparseRunWriter _writer = new(converter._target, converter._grainBytes);
        private readonly GrainInflater _inflater = new();

        /// <summary>Bytes this worker wrote (zero grains excluded).</summary>
        public long DataBytes => _writer.DataBytes;

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
        public async ValueTask ProcessAsync(Batch batch, CancellationToken cancellationToken)
        {
            try
            {
                for (var i = 0; i < batch.Grains.Count; i++)
                {
                    var grain = batch.Grains[i];
                    var expected = (int)Math.Min(converter._grainBytes, converter._capacityBytes - grain.Offset);
                    var slot = await _writer.GetSlotAsync(grain.Offset, expected, cancellationToken).ConfigureAwait(false);
                    _inflater.Inflate(batch.Buffer.Memory.Slice(grain.DataStart, grain.DataLength), slot.Span, converter._name, grain.Offset);
                    await _writer.CommitAsync(grain.Offset, expected, cancellationToken).ConfigureAwait(false);
                }
            }
            finally
            {
                converter.ReturnBatch(batch);
            }
        }

        public ValueTask FinishAsync(CancellationToken cancellationToken) => _writer.FlushAsync(cancellationToken);

        public void Dispose()
        {
            _writer.Dispose();
            _inflater.Dispose();
        }
    }

    /// <summary>Inflates one zlib grain into exactly the expected length; more output is a decompression bomb.</summary>
    private sealed class GrainInflater : IDisposable
    {
        private readonly MemoryReadStream _input = new();
        private readonly byte[] _probe = new byte[1];

        public void Inflate(ReadOnlyMemory<byte> compressed, Span<byte> output, string name, long offset)
        {
            _input.Reset(compressed);
            try
            {
                using var zlib = new ZLibStream(_input, CompressionMode.Decompress, leaveOpen: true);
                var produced = zlib.ReadAtLeast(output, output.Length, throwOnEndOfStream: false);
                if (produced < output.Length)
                {
                    throw new OvaFormatException($"{name}: grain at LBA {offset / 512} inflates to {produced} bytes, {output.Length} expected");
                }

                if (zlib.Read(_probe) != 0)
                {
                    throw new OvaFormatException($"{name}: grain at LBA {offset / 512} inflates past {output.Length} bytes (decompression bomb)");
                }
            }
            catch (InvalidDataException e)
            {
                throw new OvaFormatException($"{name}: grain at LBA {offset / 512} is not valid zlib data: {e.Message}", e);
            }
        }

        public void Dispose() => _input.Dispose();
    }
}
