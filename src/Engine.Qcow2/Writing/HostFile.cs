using Engine.Blocks;
using Engine.Blocks.Devices;
using Microsoft.Win32.SafeHandles;

namespace Engine.Qcow2.Writing;

/// <summary>
/// The image file under the writer: positional reads and writes on one descriptor, and the durability barrier
/// (<c>fdatasync</c>) that orders metadata updates. Errors name the image and the offset.
/// </summary>
internal sealed class HostFile : IDisposable
{
    private readonly SafeFileHandle _handle;

    public HostFile(string path, SafeFileHandle handle)
    {
        Path = path;
        _handle = handle;
    }

    public string Path { get; }

    public long Length => RandomAccess.GetLength(_handle);

    /// <summary>Reads exactly <paramref name="destination"/>.Length bytes; bytes past the end of the file read as zeroes.</summary>
    public void Read(long offset, Span<byte> destination)
    {
        try
        {
            while (!destination.IsEmpty)
            {
                var n = RandomAccess.Read(_handle, destination, offset);
                if (n == 0)
                {
                    destination.Clear();
                    return;
                }

                destination = destination[n..];
                offset += n;
            }
        }
        catch (IOException e) when (e is not BlockDeviceException)
        {
            throw Failure("read", offset, destination.Length, e);
        }
    }

    /// <summary>Reads like <see cref="Read(long, Span{byte})"/>, without blocking the caller's thread.</summary>
    public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        try
        {
            while (!destination.IsEmpty)
            {
                var n = await RandomAccess.ReadAsync(_handle, destination, offset, cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    destination.Span.Clear();
                    return;
                }

                destination = destination[n..];
                offset += n;
            }
        }
        catch (IOException e) when (e is not BlockDeviceException)
        {
            throw Failure("read", offset, destination.Length, e);
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> source)
    {
        try
        {
            RandomAccess.Write(_handle, source, offset);
        }
        catch (IOException e)
        {
            throw Failure("write", offset, source.Length, e);
        }
    }

    /// <summary>
    /// Writes guest data: a blocking pwrite on the caller's (pool) thread, as the raw target does, since
    /// <see cref="RandomAccess.WriteAsync(SafeFileHandle, ReadOnlyMemory{byte}, long, CancellationToken)"/> on this
    /// synchronous handle would only queue the same pwrite to another pool thread. Without barriers (a conversion) the
    /// write-back is streamed as well (<see cref="StreamingWriteBack"/>).
    /// </summary>
    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        Write(offset, source.Span);
        if (!Barriers)
        {
            // A conversion writes far more than the page cache holds; new clusters are appended, so the file is
            // written front to back as a raw target in streaming mode is.
            StreamingWriteBack.After(_handle, offset, source.Length);
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Whether <see cref="Sync"/> really syncs. Off for an image written whole before anyone uses it (a conversion),
    /// where a crash leaves a file to delete anyway, as <c>qemu-img convert</c> writes with <c>cache=unsafe</c>.
    /// </summary>
    public bool Barriers { get; init; } = true;

    /// <summary>The barrier between one step of a metadata update and the next (see <see cref="Barriers"/>).</summary>
    public void Sync()
    {
        if (Barriers)
        {
            SyncNow();
        }
    }

    /// <summary>Makes every completed write durable.</summary>
    public void SyncNow()
    {
        try
        {
            RandomAccess.FlushToDisk(_handle);
        }
        catch (IOException e)
        {
            throw new BlockDeviceException(5, $"{Path}: fdatasync failed: {e.Message}", e);
        }
    }

    /// <summary>Sets the file's length (the end of the last cluster), so a trailing metadata cluster is whole.</summary>
    public void Extend(long length)
    {
        if (Length < length)
        {
            RandomAccess.SetLength(_handle, length);
        }
    }

    public void Dispose() => _handle.Dispose();

    private BlockDeviceException Failure(string operation, long offset, int length, IOException e) =>
        new(e is BlockDeviceException b ? b.Errno : 5, $"{Path}: {operation} of {length} bytes at host offset {offset} failed: {e.Message}", e);
}
