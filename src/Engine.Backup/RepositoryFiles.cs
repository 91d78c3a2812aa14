using Engine.Blocks;
using Engine.Blocks.Native;

namespace Engine.Backup;

/// <summary>
/// How the repository creates its files and directories: private to their owner whatever the umask (files 0600,
/// directories 0700), because chunks, indexes and manifests are pieces of guests' disks. The repository's own
/// directory and the chunk folders are 0711 (others may pass, not list or read): a container backup's staging
/// directory inside the repository is handed to the container's mapped root, which must reach it and test whether
/// the main store already holds a chunk it can name (dedup), yet can read no chunk, index or manifest. Errors name
/// the path.
/// </summary>
internal static class RepositoryFiles
{
    /// <summary>rw for the owner only.</summary>
    public const int PrivateFileMode = 0b110_000_000;

    /// <summary>rw for the owner, readable by all: only the repository's configuration.</summary>
    public const int PublicFileMode = 0b110_100_100;

    /// <summary>rwx for the owner only.</summary>
    public const int PrivateDirectoryMode = 0b111_000_000;

    /// <summary>rwx for the owner, search only (no listing, no reading) for everybody else: the repository's own and the chunk folders.</summary>
    public const int SearchOnlyDirectoryMode = 0b111_001_001;

    /// <summary>Creates a directory and any missing parents with mode 0700 (one that exists is left as it is).</summary>
    public static void CreateDirectory(string path, int mode = PrivateDirectoryMode)
    {
        // A guest's snapshot folder is removed (rmdir) by its failed first backup while another writer may be creating
        // it: whenever it vanishes between two of these steps (ENOENT on the retry, or EEXIST but gone by the check),
        // go round again instead of failing that writer.
        for (var attempt = 0; ; attempt++)
        {
            if (LibC.MkDir(path, mode) == 0)
            {
                return;
            }

            var errno = LibC.LastErrno;
            if (errno == Errno.ENOENT && Path.GetDirectoryName(path) is { } parent && parent != path)
            {
                CreateDirectory(parent, mode);
                errno = LibC.MkDir(path, mode) == 0 ? 0 : LibC.LastErrno;
            }

            if (errno == 0 || (errno == Errno.EEXIST && Directory.Exists(path)))
            {
                return;
            }

            var vanished = errno == Errno.ENOENT || (errno == Errno.EEXIST && !Path.Exists(path));
            if (!vanished || attempt >= MaxCreateAttempts)
            {
                throw RepositoryCalls.Error(errno, "mkdir", path);
            }
        }
    }

    /// <summary>Rounds of <see cref="CreateDirectory"/> while a concurrent rmdir keeps removing the folder or its parent.</summary>
    private const int MaxCreateAttempts = 1000;

    /// <summary>
    /// Makes the chunk folders of a repository an older Engine created (0755: anybody could list and read the chunks)
    /// search-only. Cheap when there is nothing to do: one stat.
    /// </summary>
    public static void TightenChunkFolders(string chunks)
    {
        var mode = RepositoryCalls.Mode(chunks);
        if (mode < 0 || (mode & 0b000_110_110) == 0)
        {
            return;
        }

        foreach (var prefix in Directory.EnumerateDirectories(chunks))
        {
            TrySetMode(prefix, SearchOnlyDirectoryMode);
        }
    }

    /// <summary>Creates a new file (it must not exist) with mode 0600 (or <paramref name="mode"/>, never widened by the umask) and opens it for writing.</summary>
    public static Microsoft.Win32.SafeHandles.SafeFileHandle CreateNew(string path, int mode = PrivateFileMode) =>
        RepositoryCalls.OpenOrThrow(path, LibC.O_WRONLY | LibC.O_CREAT | LibC.O_EXCL, mode);

    /// <summary>Sets a directory's mode; best effort (a repository opened by somebody who does not own it keeps its mode).</summary>
    public static void TrySetMode(string path, int mode) => _ = LibC.ChMod(path, mode);

    /// <summary>Creates <paramref name="path"/> (replacing nothing: it must not exist) with mode 0600 (or <paramref name="mode"/>) and writes <paramref name="bytes"/>.</summary>
    /// <exception cref="IOException">It exists, or the write fails (a full disk): the message names the path.</exception>
    public static void WriteNew(string path, ReadOnlySpan<byte> bytes, bool sync = false, int mode = PrivateFileMode)
    {
        using var handle = CreateNew(path, mode);
        try
        {
            Write(handle, bytes, 0, path);
            if (sync && LibC.FSync(handle) != 0)
            {
                throw RepositoryCalls.Error(LibC.LastErrno, "fsync", path);
            }
        }
        catch
        {
            handle.Dispose();
            File.Delete(path);
            throw;
        }
    }

    /// <summary>
    /// <see cref="RandomAccess.Write(Microsoft.Win32.SafeHandles.SafeFileHandle, ReadOnlySpan{byte}, long)"/> whose
    /// failure names the file (a descriptor opened by number has no path for .NET to put in the message).
    /// </summary>
    public static void Write(Microsoft.Win32.SafeHandles.SafeFileHandle handle, ReadOnlySpan<byte> bytes, long offset, string path)
    {
        try
        {
            RandomAccess.Write(handle, bytes, offset);
        }
        catch (IOException e) when (!e.Message.Contains(path, StringComparison.Ordinal))
        {
            throw new IOException($"write {path}: {e.Message}", e.HResult);
        }
    }
}
