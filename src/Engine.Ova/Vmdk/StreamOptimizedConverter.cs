using System.Buffers.Binary;
using System.IO.Compression;
using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using Engine.Blocks;
using Engine.Blocks.Buffers;
using Engine.Ova.Import;

namespace Engine.Ova.Vmdk;

/// <summary>
/// Converts the marker stream of a streamOptimized VMDK: one reader thread splits the input into batches of whole
/// grain blocks (no copy: each batch owns the buffer it was read into), and workers inflate the grains in parallel
/// and write them at their LBA. Grain order does not matter; the GD/GT blocks are skipped since every grain marker
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

    /// <summary>
    /// Runs the reader and the workers on dedicated threads: they block on I/O and inflate for seconds at a time, which
    /// on thread-pool threads would starve every other continuation until the pool grows.
    /// </summary>
    public Task<long> RunAsync(int workers, CancellationToken cancellationToken) =>
        Task.Factory.StartNew(() => Run(workers, cancellationToken), cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private long Run(int workers, CancellationToken cancellationToken)
    {
        using var queue = new BlockingCollection<Batch>(workers * 2);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var tasks = new Task<long>[workers];
        for (var i = 0; i < workers; i++)
        {
            tasks[i] = Task.Factory.StartNew(() => Work(queue, cts), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }

        Exception? readerFailure = null;
        try
        {
            Read(queue, cts.Token);
        }
        catch (Exception e)
        {
            readerFailure = e;
            cts.Cancel();
        }
        finally
        {
            queue.CompleteAdding();
        }

        long written = 0;
        Exception? workerFailure = null;
        foreach (var task in tasks)
        {
            try
            {
                written += task.GetAwaiter().GetResult();
            }
            catch (Exception e) when (workerFailure is null || workerFailure is OperationCanceledException)
            {
                workerFailure = e;
            }
            catch (Exception)
            {
                // The first real failure is the one to report.
            }
        }

        while (queue.TryTake(out var leftover))
        {
            leftover.Dispose();
        }

        // A worker's own error beats the cancellation it caused in the reader, and vice versa.
        if (workerFailure is not null and not OperationCanceledException)
        {
            ExceptionDispatchInfo.Capture(workerFailure).Throw();
        }

        if (readerFailure is not null)
        {
            ExceptionDispatchInfo.Capture(readerFailure).Throw();
        }

        if (workerFailure is not null)
        {
            ExceptionDispatchInfo.Capture(workerFailure).Throw();
        }

        return written;
    }

    private void Read(BlockingCollection<Batch> output, CancellationToken cancellationToken)
    {
        Batch? batch = new Batch(_batchBytes);
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

                var next = done ? null : new Batch(_batchBytes);
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
                    current.Dispose();
                    continue;
                }

                try
                {
                    output.Add(current, cancellationToken);
                }
                catch
                {
                    current.Dispose();
                    throw;
                }
            }
        }
        finally
        {
            batch?.Dispose();
        }
    }

    private long Work(BlockingCollection<Batch> input, CancellationTokenSource cts)
    {
        var cancellationToken = cts.Token;
        try
        {
            using var writer = new SparseRunWriter(_target, _grainBytes);
            using var inflater = new GrainInflater();
            foreach (var batch in input.GetConsumingEnumerable(cancellationToken))
            {
                using (batch)
                {
                    foreach (var grain in batch.Grains)
                    {
                        var expected = (int)Math.Min(_grainBytes, _capacityBytes - grain.Offset);
                        var slot = writer.GetSlot(grain.Offset, expected, cancellationToken);
                        inflater.Inflate(batch.Buffer.Memory.Slice(grain.DataStart, grain.DataLength), slot.Span, _name, grain.Offset);
                        writer.Commit(grain.Offset, expected, cancellationToken);
                    }
                }
            }

            writer.Flush(cancellationToken);
            return writer.DataBytes;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            cts.Cancel();
            throw;
        }
    }

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
