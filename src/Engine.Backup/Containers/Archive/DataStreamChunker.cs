using Engine.Backup.Containers.Chunking;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Formats;
using Engine.Backup.Transfer;
using Engine.Blocks.Buffers;
using Engine.Blocks.Work;
using Engine.Sources;

namespace Engine.Backup.Containers.Archive;

/// <summary>
/// Builds the archive's data stream (see <see cref="CatalogFormat"/>): reads each regular file's data extents (holes
/// skipped) through one pooled buffer, cuts the stream with FastCDC, hashes each chunk and hands it to the uploader.
/// Small files share chunks; a file of at least the maximum chunk size is cut on its own, starting and ending on a
/// chunk boundary, so its chunks do not depend on its neighbours. Chunks of the reference backup can be laid in whole
/// (<see cref="AppendReused"/>), after the bytes read so far are cut.
/// </summary>
internal sealed class DataStreamChunker : IDisposable
{
    private readonly FastCdc _chunking;
    private readonly ChunkUploader _uploader;
    private readonly BackupCounters _counters;
    private readonly BandwidthLimiter _limiter;
    private readonly NativeBuffer _buffer;
    private readonly List<FileChunk> _chunks = [];
    private int _filled;
    private int _tailReference = -1;
    private long _tailStart;

    public DataStreamChunker(FastCdc chunking, ChunkUploader uploader, BackupCounters counters, BandwidthLimiter limiter)
    {
        _chunking = chunking;
        _uploader = uploader;
        _counters = counters;
        _limiter = limiter;
        _buffer = BufferPool.Shared.Rent(Math.Max(4 << 20, chunking.MaxSize * 2));
    }

    /// <summary>Bytes appended to the stream so far: where the next file's data starts.</summary>
    public long Length { get; private set; }

    /// <summary>The chunks cut so far (all of them after <see cref="CompleteAsync"/>).</summary>
    public IReadOnlyList<FileChunk> Chunks => _chunks;

    /// <summary>Files that were shorter when read than when examined (their missing tail is archived as zeros).</summary>
    public long Shrunk { get; private set; }

    /// <summary>Appends the data of the regular file at <paramref name="host"/>; returns where it starts in the stream.</summary>
    public async ValueTask<long> AppendAsync(string host, ContainerEntry entry, CancellationToken cancellationToken)
    {
        var start = Length;
        IReadOnlyList<SourceRange> extents = entry.DataExtents ?? (entry.Size > 0 ? [new SourceRange(0, entry.Size)] : []);
        var dataLength = entry.DataLength;
        if (dataLength == 0)
        {
            return start;
        }

        _tailReference = -1; // the stream goes on with read bytes: the last reused chunk is no longer its end

        var large = dataLength >= _chunking.MaxSize;
        if (large)
        {
            await CutAsync(final: true).ConfigureAwait(false);
        }

        using var handle = ContainerCalls.OpenRead(host);
        var shrunk = false;
        foreach (var extent in extents)
        {
            var position = extent.Offset;
            while (position < extent.End)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var want = (int)Math.Min(_buffer.Length - _filled, extent.End - position);
                await _limiter.WaitAsync(want, cancellationToken).ConfigureAwait(false);
                var target = _buffer.Memory.Slice(_filled, want);
                var read = RandomAccess.Read(handle, target.Span, position);
                if (read == 0)
                {
                    // Shrunk since it was examined (a live tree): keep the recorded size, zeros for the rest.
                    target.Span.Clear();
                    read = want;
                    shrunk = true;
                }
                else
                {
                    _counters.Read(read);
                }

                _filled += read;
                position += read;
                Length += read;
                if (_filled == _buffer.Length)
                {
                    await CutAsync(final: false).ConfigureAwait(false);
                }
            }
        }

        if (large)
        {
            await CutAsync(final: true).ConfigureAwait(false);
        }

        Shrunk += shrunk ? 1 : 0;
        return start;
    }

    /// <summary>Cuts the rest of the stream (also before reused chunks are laid in).</summary>
    public ValueTask CompleteAsync() => CutAsync(final: true);

    /// <summary>
    /// Where reference chunk <paramref name="referenceIndex"/> starts in this stream if it is the last chunk laid in and
    /// nothing followed it; -1 otherwise. A run of reused files that begins in that chunk shares it.
    /// </summary>
    public long StartOfTail(int referenceIndex) => _tailReference == referenceIndex && _filled == 0 ? _tailStart : -1;

    /// <summary>
    /// Appends a chunk of the reference backup, already in the store, as it is: no read, no hash, no upload. Only
    /// after <see cref="CompleteAsync"/> has cut what was read before.
    /// </summary>
    public void AppendReused(FileChunk chunk, int referenceIndex)
    {
        if (_filled != 0)
        {
            throw new InvalidOperationException("reused chunks follow a cut");
        }

        _chunks.Add(chunk);
        _tailReference = referenceIndex;
        _tailStart = Length;
        Length += chunk.Length;
        if (chunk.Digest.IsZero)
        {
            _counters.Zero();
        }
        else
        {
            _counters.Reused(chunk.Length);
        }
    }

    public void Dispose() => _buffer.Dispose();

    /// <summary>Cuts every chunk whose end is certain (with <paramref name="final"/>, all of them) and keeps the rest.</summary>
    private async ValueTask CutAsync(bool final)
    {
        var start = 0;
        var keep = final ? 1 : _chunking.MaxSize;
        while (_filled - start >= keep)
        {
            var length = _chunking.NextCut(_buffer.Span[start.._filled]);
            var data = _buffer.Memory.Slice(start, length);
            var digest = ChunkDigest.ComputeOrZero(data.Span);
            _chunks.Add(new FileChunk(length, digest));
            await _uploader.SubmitAsync(digest, data).ConfigureAwait(false);
            start += length;
        }

        _buffer.Span[start.._filled].CopyTo(_buffer.Span);
        _filled -= start;
    }
}
