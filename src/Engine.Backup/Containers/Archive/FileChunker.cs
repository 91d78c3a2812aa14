using System.Runtime.InteropServices;
using Engine.Backup.Containers.Chunking;
using Engine.Backup.Containers.Native;
using Engine.Backup.Repository;
using Engine.Backup.Sources;
using Engine.Backup.VmBackup;
using Engine.Blocks.Buffers;

namespace Engine.Backup.Containers.Archive;

/// <summary>
/// Reads a regular file's data extents (holes skipped) through one pooled buffer, cuts the data with FastCDC, hashes
/// each chunk and hands it to the uploader. The chunk list is reused from file to file.
/// </summary>
internal sealed class FileChunker : IDisposable
{
    private readonly FastCdc _chunking;
    private readonly ChunkUploader _uploader;
    private readonly BackupCounters _counters;
    private readonly BandwidthLimiter _limiter;
    private readonly NativeBuffer _buffer;
    private readonly List<FileChunk> _chunks = [];
    private int _filled;

    public FileChunker(FastCdc chunking, ChunkUploader uploader, BackupCounters counters, BandwidthLimiter limiter)
    {
        _chunking = chunking;
        _uploader = uploader;
        _counters = counters;
        _limiter = limiter;
        _buffer = BufferPool.Shared.Rent(Math.Max(4 << 20, chunking.MaxSize * 2));
    }

    /// <summary>Files that were shorter when read than when examined (their missing tail is archived as zeros).</summary>
    public long Shrunk { get; private set; }

    /// <summary>Chunks the file at <paramref name="host"/>; the list is valid until the next call.</summary>
    public async ValueTask<List<FileChunk>> ChunkAsync(string host, ContainerEntry entry, CancellationToken cancellationToken)
    {
        _chunks.Clear();
        _filled = 0;
        if (entry.Size == 0)
        {
            return _chunks;
        }

        using var handle = ContainerLibC.OpenRead(host);
        IReadOnlyList<SourceRange> extents = entry.DataExtents ?? [new SourceRange(0, entry.Size)];
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

                _counters.Read(read);
                _filled += read;
                position += read;
                if (_filled == _buffer.Length)
                {
                    await CutAsync(final: false).ConfigureAwait(false);
                }
            }
        }

        await CutAsync(final: true).ConfigureAwait(false);
        Shrunk += shrunk ? 1 : 0;
        return _chunks;
    }

    public void Dispose() => _buffer.Dispose();

    /// <summary>Cuts every chunk whose end is certain (all of them at the end of the file) and keeps the rest.</summary>
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

    /// <summary>The chunks as a span (for the catalog writer).</summary>
    public static ReadOnlySpan<FileChunk> AsSpan(List<FileChunk> chunks) => CollectionsMarshal.AsSpan(chunks);
}
