using System.Globalization;
using System.Text;
using Engine.Blocks.Native;
using Microsoft.Win32.SafeHandles;

namespace Engine.Backup.Repository.Snapshots;

/// <summary>
/// A running <see cref="SnapshotWriter"/>'s entry in <c>writers/</c>: a file holding the writer's start time (first
/// line) and, once reserved, its snapshot id (second line), kept under an exclusive <c>flock</c> for the writer's life.
/// Garbage collection keeps everything touched since the oldest running writer started; an entry whose lock is free
/// belongs to a dead process and is removed.
/// </summary>
internal sealed class WriterRegistration : IWriterLease
{
    private readonly SafeFileHandle _handle;
    private readonly string _path;
    private long _length;
    private bool _disposed;

    private WriterRegistration(SafeFileHandle handle, string path, long length, DateTimeOffset start)
    {
        _handle = handle;
        _path = path;
        _length = length;
        Start = start;
    }

    /// <summary>When the writer registered.</summary>
    public DateTimeOffset Start { get; }

    /// <summary>
    /// Creates the entry fully written and locked in <c>tmp/</c>, then renames it into <c>writers/</c>, so a collector
    /// never sees one without its start time.
    /// </summary>
    public static WriterRegistration Register(string writersDirectory, string tmpDirectory)
    {
        var name = "writer-" + Guid.NewGuid().ToString("N");
        var temporary = Path.Combine(tmpDirectory, name);
        var handle = RepositoryCalls.OpenOrThrow(temporary, LibC.O_RDWR | LibC.O_CREAT | LibC.O_EXCL, RepositoryFiles.PrivateFileMode);
        try
        {
            RepositoryCalls.Lock(handle, LibC.LOCK_EX, temporary);
            var start = DateTimeOffset.UtcNow;
            var line = Encoding.UTF8.GetBytes(start.ToString("O", CultureInfo.InvariantCulture) + "\n");
            RandomAccess.Write(handle, line, 0);
            var path = Path.Combine(writersDirectory, name);
            File.Move(temporary, path);
            return new WriterRegistration(handle, path, line.Length, start);
        }
        catch
        {
            handle.Dispose();
            File.Delete(temporary);
            throw;
        }
    }

    /// <summary>Records which snapshot the writer reserved (for people inspecting <c>writers/</c>).</summary>
    public void RecordSnapshot(SnapshotId id)
    {
        var line = Encoding.UTF8.GetBytes(id + "\n");
        RandomAccess.Write(_handle, line, _length);
        _length += line.Length;
    }

    /// <summary>Removes the entry while still holding its lock, then releases the lock. Idempotent.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        File.Delete(_path);
        _handle.Dispose();
    }

    /// <summary>Drops the lock but leaves the entry, as a dead process would.</summary>
    public void Release()
    {
        _disposed = true;
        _handle.Dispose();
    }

    /// <summary>Start times of the writers alive now; removes entries whose writer died.</summary>
    public static List<DateTimeOffset> ActiveStarts(string writersDirectory)
    {
        var starts = new List<DateTimeOffset>();
        Span<byte> bytes = stackalloc byte[256];
        foreach (var path in Directory.EnumerateFiles(writersDirectory))
        {
            using var handle = LibC.TryOpen(path, LibC.O_RDWR, 0, out _);
            if (handle is null)
            {
                continue; // unregistered meanwhile
            }

            if (LibC.Flock(handle, LibC.LOCK_EX | LibC.LOCK_NB) == 0)
            {
                // Nobody holds it: the writer is gone (crashed, or finishing right now and about to delete it).
                File.Delete(path);
                continue;
            }

            // Read through our own descriptor: File.ReadAllText would take .NET's shared-access flock and fail.
            var text = Encoding.UTF8.GetString(bytes[..RandomAccess.Read(handle, bytes, 0)]);
            var end = text.IndexOf('\n', StringComparison.Ordinal);
            if (end > 0 && DateTimeOffset.TryParseExact(text.AsSpan(0, end), "O", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var start))
            {
                starts.Add(start);
            }
            else
            {
                // Locked but unreadable: be safe and treat it as started at the dawn of time (keeps every recent chunk).
                starts.Add(DateTimeOffset.MinValue + TimeSpan.FromDays(366));
            }
        }

        return starts;
    }
}
