using Engine.Blocks;
using Engine.Blocks.Native;
using Microsoft.Win32.SafeHandles;

namespace Engine.Backup.Repository.Storage.Local;

/// <summary>Saving: temporary file, fsync, rename or link into place, fsync of the folder.</summary>
public sealed partial class LocalDirectoryStore
{
    /// <summary>The folder of temporary files, <c>DIR/tmp</c>, the one the local repository has always used.</summary>
    private const string TemporaryFolder = "tmp";

    /// <inheritdoc/>
    /// <exception cref="NotSupportedException"><see cref="SaveOptions.RetainUntil"/> is set: a local directory has no object lock.</exception>
    public ValueTask<SaveOutcome> SaveAsync(ObjectName name, ReadOnlyMemory<byte> content, SaveOptions options, CancellationToken cancellationToken)
    {
        if (options.RetainUntil is not null)
        {
            throw new NotSupportedException($"{Location}: a local directory repository cannot retain {name.Key} (object lock needs an S3 repository)");
        }

        cancellationToken.ThrowIfCancellationRequested();
        var key = name.Key;
        // The walk opens the folder holding its last segment: here "tmp" itself.
        using var temporaryFolder = OpenParent(TemporaryFolder + "/-", create: true, out _)!;
        var temporary = "save-" + Guid.NewGuid().ToString("N");
        var placed = false;
        try
        {
            WriteTemporary(temporaryFolder, temporary, content.Span, key);

            // The last point of no return: a save cancelled before it leaves nothing behind.
            cancellationToken.ThrowIfCancellationRequested();
            var outcome = Place(temporaryFolder, temporary, key, options.IfAbsent, out var folder);
            using (folder)
            {
                placed = !options.IfAbsent;
                if (outcome == SaveOutcome.Written)
                {
                    Sync(folder, key);
                }
            }

            return new ValueTask<SaveOutcome>(outcome);
        }
        finally
        {
            if (!placed)
            {
                _ = LibC.UnlinkAt(temporaryFolder, temporary, 0);
            }
        }
    }

    /// <summary>
    /// Renames (or, absent-only, links) the temporary file to the object's name and returns the folder it went into.
    /// A folder removed by a garbage collection's rmdir between our open and the rename (ENOENT: nothing can be made
    /// in a removed folder) is made again and the step repeated.
    /// </summary>
    private SaveOutcome Place(SafeFileHandle temporaryFolder, string temporary, string key, bool ifAbsent, out SafeFileHandle folder)
    {
        for (var attempt = 1; ; attempt++)
        {
            folder = OpenParent(key, create: true, out var leaf)!;
            var failed = ifAbsent
                ? LibC.LinkAt(temporaryFolder, temporary, folder, leaf, 0) != 0
                : LibC.RenameAt(temporaryFolder, temporary, folder, leaf) != 0;
            if (!failed)
            {
                return SaveOutcome.Written;
            }

            var errno = LibC.LastErrno;
            if (errno == Errno.ENOENT && attempt < MaxPlaceAttempts)
            {
                folder.Dispose();
                continue;
            }

            try
            {
                // link(2) fails with EEXIST when the name exists, atomically: exactly one of many concurrent writers
                // wins. rename(2) replaces whatever has the name (a link in the object's place too, never following it).
                return ifAbsent ? Existing(folder, leaf, key, errno) : throw Failure(errno, "rename", key);
            }
            catch
            {
                folder.Dispose();
                throw;
            }
        }
    }

    /// <summary>Rounds of <see cref="Place"/> while concurrent rmdirs keep removing the object's folder.</summary>
    private const int MaxPlaceAttempts = 100;

    /// <summary>Creates the temporary file (0600, never through a link), writes the content and fsyncs it.</summary>
    private void WriteTemporary(SafeFileHandle folder, string temporary, ReadOnlySpan<byte> content, string key)
    {
        using var handle = LibC.TryOpenAt(folder, temporary, LibC.O_WRONLY | LibC.O_CREAT | LibC.O_EXCL | LibC.O_NOFOLLOW, RepositoryFiles.PrivateFileMode, out var errno) ??
            throw Failure(errno, "create " + TemporaryFolder + "/" + temporary + " for", key);
        try
        {
            RepositoryFiles.Write(handle, content, 0, $"{Location}/{TemporaryFolder}/{temporary}");
        }
        catch (IOException e)
        {
            throw new ObjectStoreException(Location, key, e.Message, innerException: e);
        }

        if (LibC.FSync(handle) != 0)
        {
            throw Failure(LibC.LastErrno, "fsync", key);
        }
    }

    /// <summary>The answer to a failed link: the object exists (a regular file) or the failure is an error.</summary>
    private SaveOutcome Existing(SafeFileHandle folder, string leaf, string key, int errno)
    {
        if (errno != Errno.EEXIST)
        {
            throw Failure(errno, "link", key);
        }

        // A link or a folder in the object's place does not count as the object.
        if (LibC.StatX(folder, leaf, LibC.AT_SYMLINK_NOFOLLOW, LibC.STATX_TYPE, out var stat) == 0 && !stat.IsRegularFile)
        {
            throw NotFollowed(key, key);
        }

        return SaveOutcome.AlreadyExists;
    }
}
