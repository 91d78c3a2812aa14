using System.Buffers;
using System.Runtime.CompilerServices;
using Engine.Blocks.Devices;
using Microsoft.Win32.SafeHandles;

namespace Engine.Sources;

/// <summary>
/// A disk given as an open descriptor plus its dirty regions: PVE's <c>file-handle</c> mechanism, where the
/// descriptor is an nbdfuse file opened O_RDWR|O_DIRECT and the regions come from <c>next-dirty-region</c>.
/// Local regular files are read through a memory mapping; everything else with (aligned) pread.
/// </summary>
public sealed class FileVolumeSource : IVolumeSource
{
    private readonly FileHandleReader _reader;
    private readonly IAsyncEnumerable<SourceRange>? _dirtyRegions;
    private readonly MappedRegion? _mapped;

    /// <summary>Wraps a descriptor.</summary>
    /// <param name="device">Device name, such as <c>drive-scsi0</c>.</param>
    /// <param name="handle">The descriptor; the source does not close it unless <paramref name="ownsHandle"/>.</param>
    /// <param name="name">How errors name the descriptor (a path or "fd N").</param>
    /// <param name="bitmap">Name of the bitmap the dirty regions come from, or null for a full backup.</param>
    /// <param name="dirtyRegions">The dirty regions, ascending; required when <paramref name="bitmap"/> is set.</param>
    /// <param name="ownsHandle">Close the descriptor on dispose.</param>
    /// <param name="allowMapping">False forces pread even where mapping is possible.</param>
    public FileVolumeSource(string device, SafeFileHandle handle, string name, string? bitmap, IAsyncEnumerable<SourceRange>? dirtyRegions, bool ownsHandle = false, bool allowMapping = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(device);
        if (bitmap is not null && dirtyRegions is null)
        {
            throw new ArgumentException("a bitmap needs its dirty regions", nameof(dirtyRegions));
        }

        Device = device;
        Bitmap = bitmap;
        _dirtyRegions = dirtyRegions;
        _reader = FileHandleReader.Open(handle, name, ownsHandle, allowMapping);
        _mapped = _reader.IsMapped ? new MappedRegion(_reader) : null;
    }

    /// <summary>Opens a path read-write (so ranges can be discarded), or read-only when that is all it allows.</summary>
    public static FileVolumeSource Open(string device, string path, string? bitmap, IAsyncEnumerable<SourceRange>? dirtyRegions, bool discard)
    {
        var handle = File.OpenHandle(path, FileMode.Open, discard ? FileAccess.ReadWrite : FileAccess.Read);
        try
        {
            return new FileVolumeSource(device, handle, path, bitmap, dirtyRegions, ownsHandle: true);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public string Device { get; }

    /// <inheritdoc />
    public long Size => _reader.Size;

    /// <inheritdoc />
    public string? Bitmap { get; }

    /// <inheritdoc />
    public int ReadAlignment => _reader.Alignment;

    /// <inheritdoc />
    public bool CanDiscard => _reader.CanDiscard;

    /// <summary>Whether reads come from a memory mapping.</summary>
    public bool IsMapped => _reader.IsMapped;

    /// <inheritdoc />
    public IAsyncEnumerable<SourceRange> GetDirtyRegionsAsync(CancellationToken cancellationToken) =>
        _dirtyRegions ?? throw new InvalidOperationException($"{_reader.Name}: no dirty regions were given");

    /// <inheritdoc />
    public async IAsyncEnumerable<SourceRange> GetDataRangesAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // The snapshot access has no allocation map; zero detection after the read keeps holes out of the store.
        await Task.CompletedTask.ConfigureAwait(false);
        if (Size > 0)
        {
            yield return new SourceRange(0, Size);
        }
    }

    /// <inheritdoc />
    public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        // pread on the caller's thread: the backup runs one reader per worker, so blocking here is the parallelism.
        cancellationToken.ThrowIfCancellationRequested();
        _reader.Read(offset, destination.Span);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public bool TryGetMapped(long offset, int length, out ReadOnlyMemory<byte> data)
    {
        if (_mapped is null)
        {
            data = default;
            return false;
        }

        data = _mapped.Slice(offset, length);
        return true;
    }

    /// <inheritdoc />
    public void ReleaseMapped(long offset, long length) => _reader.ReleaseMapped(offset, length);

    /// <inheritdoc />
    public ValueTask DiscardAsync(long offset, long length, CancellationToken cancellationToken)
    {
        if (CanDiscard)
        {
            _ = _reader.Discard(offset, length);
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        _reader.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>Hands out slices of the mapping as <see cref="ReadOnlyMemory{T}"/> for the chunk store's async API.</summary>
    private sealed class MappedRegion(FileHandleReader reader)
    {
        public ReadOnlyMemory<byte> Slice(long offset, int length)
        {
            _ = reader.TryGetMapped(offset, length, out var span);
            return new SpanMemory(span).Memory;
        }
    }

    /// <summary>A memory manager over one mapped span; one small object per chunk, never per request.</summary>
    private sealed unsafe class SpanMemory : MemoryManager<byte>
    {
        private readonly byte* _pointer;
        private readonly int _length;

        public SpanMemory(ReadOnlySpan<byte> span)
        {
            fixed (byte* pointer = span)
            {
                // The mapping never moves; the pointer stays valid until the reader unmaps it.
                _pointer = pointer;
            }

            _length = span.Length;
        }

        public override Span<byte> GetSpan() => new(_pointer, _length);

        public override MemoryHandle Pin(int elementIndex = 0) => new(_pointer + elementIndex);

        public override void Unpin()
        {
        }

        protected override void Dispose(bool disposing)
        {
        }
    }
}
