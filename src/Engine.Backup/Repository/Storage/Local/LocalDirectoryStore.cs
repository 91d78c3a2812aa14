using Engine.Blocks;
using Engine.Blocks.Native;
using Microsoft.Win32.SafeHandles;

namespace Engine.Backup.Repository.Storage.Local;

/// <summary>
/// The embedded default backend: a repository in a local directory, each object a file at <c>DIR/&lt;key&gt;</c>
/// (<c>config</c>, <c>chunks/ab/abcd…</c>, <c>snapshots/…</c>), the layout the local repository has always had. Files
/// are 0600 and folders 0700 whatever the umask; the store's own directory and the chunk folders are 0711, as
/// <see cref="RepositoryFiles.SearchOnlyDirectoryMode"/> explains. A save writes a temporary file in <c>DIR/tmp/</c>,
/// fsyncs it and renames (or, for <see cref="SaveOptions.IfAbsent"/>, hard-links) it into place, then fsyncs the
/// folder: durable when the call returns, and readers see all of the object or none of it. Every path is walked
/// from the store's directory one folder at a time with <c>O_NOFOLLOW</c>, so a symbolic link put in place of an
/// object or a folder is refused (an error naming it), never followed. Thread-safe.
/// </summary>
public sealed partial class LocalDirectoryStore : IObjectStore
{
    private readonly Lock _rootLock = new();
    private SafeFileHandle? _root;
    private bool _disposed;

    /// <summary>A store over <paramref name="directory"/>, which is created (0711) by the first save when it is missing.</summary>
    public LocalDirectoryStore(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        Location = Path.GetFullPath(directory).TrimEnd('/') is { Length: > 0 } full ? full : "/";
    }

    /// <inheritdoc/>
    public string Location { get; }

    /// <summary>
    /// <see cref="ObjectStoreCapabilities.AtomicIfAbsent"/>: an absent-only save is a <c>link(2)</c>, which fails with
    /// EEXIST when the name exists, so two writers never both see <see cref="SaveOutcome.Written"/>. No Object Lock.
    /// </summary>
    public ObjectStoreCapabilities Capabilities => ObjectStoreCapabilities.AtomicIfAbsent;

    /// <inheritdoc/>
    public ValueTask<int> LoadAsync(ObjectName name, long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        cancellationToken.ThrowIfCancellationRequested();
        var key = name.Key;
        using var handle = OpenObject(key);
        var total = 0;
        try
        {
            while (total < destination.Length)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var read = RandomAccess.Read(handle, destination.Span[total..], offset + total);
                if (read == 0)
                {
                    break;
                }

                total += read;
            }
        }
        catch (IOException e)
        {
            throw Failure(e.HResult, "pread", key, e);
        }

        return new ValueTask<int>(total);
    }

    /// <inheritdoc/>
    public ValueTask<ObjectInfo?> StatAsync(ObjectName name, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var key = name.Key;
        using var parent = OpenParent(key, create: false, out var leaf);
        if (parent is null)
        {
            return new ValueTask<ObjectInfo?>((ObjectInfo?)null);
        }

        if (LibC.StatX(parent, leaf, LibC.AT_SYMLINK_NOFOLLOW, LibC.STATX_TYPE | LibC.STATX_SIZE | LibC.STATX_MTIME, out var stat) != 0)
        {
            var errno = LibC.LastErrno;
            return errno == Errno.ENOENT ? new ValueTask<ObjectInfo?>((ObjectInfo?)null) : throw Failure(errno, "statx", key);
        }

        return stat.IsRegularFile
            ? new ValueTask<ObjectInfo?>(new ObjectInfo(name, (long)stat.Size, ModificationTime(stat)))
            : throw NotFollowed(key, key);
    }

    /// <inheritdoc/>
    public ValueTask<bool> RemoveAsync(ObjectName name, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var key = name.Key;
        using var parent = OpenParent(key, create: false, out var leaf);
        if (parent is null)
        {
            return new ValueTask<bool>(false);
        }

        // unlink removes a link in the object's place itself, never what it points at.
        if (LibC.UnlinkAt(parent, leaf, 0) == 0)
        {
            return new ValueTask<bool>(true);
        }

        var errno = LibC.LastErrno;
        return errno == Errno.ENOENT ? new ValueTask<bool>(false) : throw Failure(errno, "unlink", key);
    }

    /// <summary>Always throws: a local directory cannot retain objects against its owner.</summary>
    /// <exception cref="NotSupportedException">Always.</exception>
    public ValueTask ExtendRetentionAsync(ObjectName name, DateTimeOffset retainUntil, ObjectLockMode mode, CancellationToken cancellationToken) =>
        throw new NotSupportedException($"{Location}: a local directory repository has no object lock (retention needs an S3 repository)");

    /// <inheritdoc/>
    public ValueTask DisposeAsync()
    {
        lock (_rootLock)
        {
            _disposed = true;
            _root?.Dispose();
            _root = null;
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>Opens an object's file to read: a regular file, reached without following any link.</summary>
    private SafeFileHandle OpenObject(string key)
    {
        using var parent = OpenParent(key, create: false, out var leaf) ?? throw new ObjectNotFoundException(Location, key);
        var handle = LibC.TryOpenAt(parent, leaf, LibC.O_RDONLY | LibC.O_NOFOLLOW | LibC.O_NONBLOCK, 0, out var errno) ??
            throw (errno == Errno.ELOOP ? NotFollowed(key, key) : Failure(errno, "open", key));
        if (RepositoryCalls.FileType(handle, out errno) != Statx.RegularFile)
        {
            handle.Dispose();
            throw errno == 0 ? NotFollowed(key, key) : Failure(errno, "fstat", key);
        }

        return handle;
    }

    private static DateTimeOffset ModificationTime(in Statx stat) =>
        DateTimeOffset.UnixEpoch.AddTicks(stat.ModificationTimeNs / 100);

    /// <summary>An errno as the store's exception: ENOENT is <see cref="ObjectNotFoundException"/>; the message names the call and the path.</summary>
    private ObjectStoreException Failure(int errno, string call, string key, Exception? inner = null) => errno switch
    {
        Errno.ENOENT => new ObjectNotFoundException(Location, key, inner),
        Errno.ELOOP => NotFollowed(key, key),
        _ => new ObjectStoreException(Location, key, $"{call}: {LibC.StrError(errno)}", isTransient: errno is Errno.EINTR or Errno.EAGAIN, inner),
    };

    /// <summary>A link (or a special file) where an object or folder should be: refused, never followed.</summary>
    private ObjectStoreException NotFollowed(string key, string where) =>
        new(Location, key, $"{Location}/{where} is a symbolic link or not a {(where == key ? "regular file" : "folder")}; not followed");
}
