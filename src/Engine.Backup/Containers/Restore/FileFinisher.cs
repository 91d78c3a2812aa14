using Engine.Blocks;
using Engine.Blocks.Buffers;
using Engine.Blocks.Work;
using Engine.Sources;
using Microsoft.Win32.SafeHandles;

namespace Engine.Backup.Containers.Restore;

/// <summary>
/// Finishes restored regular files on worker tasks: writes a small file's data (read by the restore, in order, from
/// the archive), truncates to the size, then fchown, fchmod, fsetxattr and futimens on the open descriptor, and
/// closes it. The restore's own thread keeps creating entries meanwhile; per file these calls are most of the work.
/// The first failure stops the workers and is rethrown to the restore.
/// </summary>
internal sealed class FileFinisher : IAsyncDisposable
{
    private readonly WorkerPipeline<Job> _queue;
    private long _xattrsSkipped;

    public FileFinisher(int workers, CancellationToken cancellationToken)
    {
        _queue = new WorkerPipeline<Job>(workers, workers * 4, FinishAsync, static job => job.Release(), cancellationToken);
    }

    /// <summary>Extended attributes the target filesystem does not support, left out.</summary>
    public long XattrsSkipped => Volatile.Read(ref _xattrsSkipped);

    /// <summary>
    /// Hands over an open file and, for a small file, its data extents back to back in <paramref name="data"/>; both
    /// are owned by the finisher from here on.
    /// </summary>
    public ValueTask SubmitAsync(ContainerEntry entry, string host, SafeFileHandle handle, NativeBuffer? data) =>
        _queue.SubmitAsync(new Job(entry, host, handle, data));

    /// <summary>
    /// Writes <paramref name="data"/> (the file's data extents back to back; null when already written), then sets
    /// size, owner, mode (after the owner: chown clears set-id bits), xattrs (after the owner: chown drops
    /// capabilities) and mtime.
    /// </summary>
    public void Finish(ContainerEntry entry, string host, SafeFileHandle handle, NativeBuffer? data)
    {
        if (data is not null)
        {
            IReadOnlyList<SourceRange> extents = entry.DataExtents ?? [new SourceRange(0, entry.Size)];
            var position = 0;
            foreach (var extent in extents)
            {
                RandomAccess.Write(handle, data.Span.Slice(position, (int)extent.Length), extent.Offset);
                position += (int)extent.Length;
            }
        }

        ContainerCalls.Truncate(handle, entry.Size, host);
        ContainerCalls.ChangeOwner(handle, entry.Uid, entry.Gid, host);
        ContainerCalls.ChangeMode(handle, entry.Mode & 0xFFF, host);
        foreach (var xattr in entry.Xattrs)
        {
            try
            {
                ContainerCalls.SetXattr(handle, xattr.Name, xattr.Value.Span, host);
            }
            catch (IOException e) when (e.HResult == Errno.EOPNOTSUPP)
            {
                Interlocked.Increment(ref _xattrsSkipped);
            }
        }

        ContainerCalls.SetTimes(handle, entry.ModificationTimeNs, host);
    }

    /// <summary>Waits until every submitted file is finished; rethrows the first failure.</summary>
    public Task CompleteAsync() => _queue.CompleteAsync();

    public ValueTask DisposeAsync() => _queue.DisposeAsync();

    private ValueTask FinishAsync(Job job, CancellationToken cancellationToken)
    {
        try
        {
            Finish(job.Entry, job.Host, job.Handle, job.Data);
        }
        finally
        {
            job.Release();
        }

        return ValueTask.CompletedTask;
    }

    private readonly record struct Job(ContainerEntry Entry, string Host, SafeFileHandle Handle, NativeBuffer? Data)
    {
        public void Release()
        {
            Handle.Dispose();
            Data?.Dispose();
        }
    }
}
