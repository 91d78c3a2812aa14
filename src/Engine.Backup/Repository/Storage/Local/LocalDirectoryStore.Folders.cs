using Engine.Blocks;
using Engine.Blocks.Native;
using Microsoft.Win32.SafeHandles;

namespace Engine.Backup.Repository.Storage.Local;

/// <summary>Walking from the store's directory to an object's folder, one <c>O_NOFOLLOW</c> open per folder.</summary>
public sealed partial class LocalDirectoryStore
{
    private static readonly int FolderFlags = LibC.O_RDONLY | LibC.O_DIRECTORY | LibC.O_NOFOLLOW;

    /// <summary>
    /// Opens the folder that holds <paramref name="key"/>'s last segment (returned in <paramref name="leaf"/>). Null
    /// when the store or a folder on the way does not exist and <paramref name="create"/> is false; with it, missing
    /// folders are made (0700, the chunk folders 0711) and their parents fsync'd, so the new entries are as durable as
    /// the object about to go in. A link or a file in place of a folder is an error naming it.
    /// </summary>
    private SafeFileHandle? OpenParent(string key, bool create, out string leaf)
    {
        var segments = key.Split('/');
        leaf = segments[^1];
        var root = Root(create);
        if (root is null)
        {
            return null;
        }

        // The root handle is shared and stays open; the walk owns every folder handle below it.
        SafeFileHandle current = root;
        var owned = false;
        try
        {
            for (var i = 0; i < segments.Length - 1; i++)
            {
                var next = OpenFolder(current, segments, i, create, key);
                if (owned)
                {
                    current.Dispose();
                }

                if (next is null)
                {
                    owned = false;
                    return null;
                }

                current = next;
                owned = true;
            }

            if (!owned)
            {
                // An object at the top (config): hand out a handle of its own, which the caller may dispose.
                current = LibC.TryOpenAt(root, ".", FolderFlags, 0, out var errno) ?? throw Failure(errno, "open", key);
                owned = true;
            }

            return current;
        }
        catch
        {
            if (owned)
            {
                current.Dispose();
            }

            throw;
        }
    }

    private SafeFileHandle? OpenFolder(SafeFileHandle parent, string[] segments, int index, bool create, string key)
    {
        var name = segments[index];
        var handle = LibC.TryOpenAt(parent, name, FolderFlags, 0, out var errno);
        if (handle is null && errno == Errno.ENOENT && create)
        {
            var mode = segments[0] == ObjectName.FolderOf(ObjectKind.Chunk) && index <= 1
                ? RepositoryFiles.SearchOnlyDirectoryMode
                : RepositoryFiles.PrivateDirectoryMode;
            if (LibC.MkDirAt(parent, name, mode) != 0 && LibC.LastErrno != Errno.EEXIST)
            {
                throw Failure(LibC.LastErrno, "mkdir", key);
            }

            handle = LibC.TryOpenAt(parent, name, FolderFlags, 0, out errno);
            if (handle is not null)
            {
                // The umask may have narrowed the mode (never widened: 0711 stays at most 0711); set it exactly.
                _ = LibC.FChMod(handle, mode);
                Sync(parent, key);
            }
        }

        if (handle is not null)
        {
            return handle;
        }

        return errno switch
        {
            Errno.ENOENT when !create => null,
            Errno.ELOOP or Errno.ENOTDIR => throw NotFollowed(key, string.Join('/', segments, 0, index + 1)),
            _ => throw Failure(errno, "open", key),
        };
    }

    /// <summary>The store's directory, opened once (it may itself be reached through a link: the user named it); null when missing and not to be created.</summary>
    private SafeFileHandle? Root(bool create)
    {
        lock (_rootLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_root is not null)
            {
                return _root;
            }

            var handle = LibC.TryOpen(Location, LibC.O_RDONLY | LibC.O_DIRECTORY, 0, out var errno);
            if (handle is null && errno == Errno.ENOENT && create)
            {
                try
                {
                    RepositoryFiles.CreateDirectory(Location, RepositoryFiles.SearchOnlyDirectoryMode);
                }
                catch (IOException e)
                {
                    throw new ObjectStoreException(Location, "", e.Message, innerException: e);
                }

                handle = LibC.TryOpen(Location, LibC.O_RDONLY | LibC.O_DIRECTORY, 0, out errno);
            }

            if (handle is null)
            {
                return errno == Errno.ENOENT && !create
                    ? null
                    : throw new ObjectStoreException(Location, "", $"open: {LibC.StrError(errno)}");
            }

            _root = handle;
            return handle;
        }
    }

    /// <summary>fsync(2) of a folder, so the entries made in it survive a crash.</summary>
    private void Sync(SafeFileHandle folder, string key)
    {
        if (LibC.FSync(folder) != 0)
        {
            throw Failure(LibC.LastErrno, "fsync", key);
        }
    }
}
