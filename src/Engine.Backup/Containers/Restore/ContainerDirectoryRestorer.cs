using Engine.Backup.Containers.Native;
using Engine.Backup.Sources;
using Engine.Blocks.Buffers;

namespace Engine.Backup.Containers.Restore;

/// <summary>
/// Recreates a container archive in a directory, exactly: file types (mknod, mkfifo, symlink, link), content written
/// sparsely (holes skipped, then ftruncate to the size), numeric owners, modes with set-id and sticky bits, every
/// xattr (POSIX ACLs and file capabilities included) and nanosecond mtimes. Per file the order is lchown, chmod (after
/// chown, which clears set-id bits), lsetxattr (after chown, which drops capabilities), utimensat. Directories get
/// their metadata after all their children exist: so their mtimes stay, a default ACL is not inherited by restored
/// children, and a read-only directory still takes its children.
/// </summary>
public static class ContainerDirectoryRestorer
{
    private const int CopyBufferSize = 1 << 20;

    /// <summary>Restores <paramref name="archive"/> into <paramref name="targetDirectory"/> (created when missing).</summary>
    /// <exception cref="UnsafeArchivePathException">An entry would land outside the target.</exception>
    /// <exception cref="IOException">A file cannot be created or written (the message names it).</exception>
    public static Task<ContainerRestoreSummary> RestoreAsync(IContainerArchiveReader archive, string targetDirectory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(archive);
        ArgumentException.ThrowIfNullOrEmpty(targetDirectory);
        return Task.Run(() => RunAsync(archive, Path.TrimEndingDirectorySeparator(Path.GetFullPath(targetDirectory)), cancellationToken), cancellationToken);
    }

    private static async Task<ContainerRestoreSummary> RunAsync(IContainerArchiveReader archive, string target, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(target);
        if (!ContainerLibC.TryLStat(target, out var rootStat, out _) || rootStat.FileType != ContainerStatx.Directory)
        {
            throw new IOException($"restore target {target} is not a directory");
        }

        var safeDirectories = new HashSet<string>(StringComparer.Ordinal) { "" };
        var files = new HashSet<string>(StringComparer.Ordinal);
        var directories = new List<(ContainerEntry Entry, string Host)>();
        long entries = 0;
        long fileCount = 0;
        long bytes = 0;
        long xattrsSkipped = 0;
        using var buffer = BufferPool.Shared.Rent(CopyBufferSize);
        await foreach (var entry in archive.EntriesAsync(cancellationToken).ConfigureAwait(false))
        {
            var relative = Normalize(entry.Path);
            entries++;
            if (relative.Length == 0)
            {
                if (entry.Kind != ContainerEntryKind.Directory)
                {
                    throw new UnsafeArchivePathException(entry.Path, "the root is not a directory");
                }

                directories.Add((entry, target));
                continue;
            }

            RequireSafeParent(target, relative, entry.Path, safeDirectories);
            var host = target + "/" + relative;
            switch (entry.Kind)
            {
                case ContainerEntryKind.Directory:
                    MakeDirectory(host, entry.Path);
                    safeDirectories.Add(relative);
                    directories.Add((entry, host));
                    break;
                case ContainerEntryKind.RegularFile:
                    bytes += await WriteFileAsync(archive, entry, host, buffer, cancellationToken).ConfigureAwait(false);
                    files.Add(relative);
                    fileCount++;
                    ApplyMetadata(entry, host, ref xattrsSkipped);
                    break;
                case ContainerEntryKind.HardLink:
                    var linked = Normalize(entry.LinkTarget ?? throw new UnsafeArchivePathException(entry.Path, "hard link without a target"));
                    if (!files.Contains(linked))
                    {
                        throw new UnsafeArchivePathException(entry.Path, $"hard link to '{entry.LinkTarget}', which is not an earlier regular file of the archive");
                    }

                    Replace(host, () => ContainerLibC.MakeHardLink(target + "/" + linked, host));
                    break;
                case ContainerEntryKind.Symlink:
                    Replace(host, () => ContainerLibC.MakeSymlink(entry.LinkTarget ?? "", host));
                    ApplyMetadata(entry, host, ref xattrsSkipped);
                    break;
                case ContainerEntryKind.CharacterDevice:
                case ContainerEntryKind.BlockDevice:
                case ContainerEntryKind.Fifo:
                case ContainerEntryKind.Socket:
                    Replace(host, () => ContainerLibC.MakeNode(host, FileTypeOf(entry.Kind), 0b110_000_000, entry.DeviceMajor, entry.DeviceMinor));
                    ApplyMetadata(entry, host, ref xattrsSkipped);
                    break;
                default:
                    throw new InvalidDataException($"archive entry '{entry.Path}' has unknown kind {entry.Kind}");
            }
        }

        // Deepest first: a parent's metadata (and mtime) is set after everything inside it.
        for (var i = directories.Count - 1; i >= 0; i--)
        {
            cancellationToken.ThrowIfCancellationRequested();
            ApplyMetadata(directories[i].Entry, directories[i].Host, ref xattrsSkipped);
        }

        return new ContainerRestoreSummary(entries, fileCount, bytes, xattrsSkipped);
    }

    /// <summary>
    /// The entry's path checked to stay inside the target: relative, no empty, <c>.</c> or <c>..</c> component, no NUL;
    /// <c>.</c> (the root) becomes the empty string.
    /// </summary>
    internal static string Normalize(string path)
    {
        if (path == ".")
        {
            return "";
        }

        if (path.Length == 0 || path.StartsWith('/'))
        {
            throw new UnsafeArchivePathException(path, "absolute or empty path");
        }

        if (path.Contains('\0', StringComparison.Ordinal))
        {
            throw new UnsafeArchivePathException(path, "NUL in the path");
        }

        foreach (var part in path.Split('/'))
        {
            if (part is "" or "." or "..")
            {
                throw new UnsafeArchivePathException(path, $"'{part}' component (paths must stay inside the target)");
            }
        }

        return path;
    }

    /// <summary>
    /// The parent must be a directory this restore created, or one already there that is a real directory (not a
    /// symlink) whose own parent is safe.
    /// </summary>
    private static void RequireSafeParent(string target, string relative, string entryPath, HashSet<string> safe)
    {
        var slash = relative.LastIndexOf('/');
        var parent = slash < 0 ? "" : relative[..slash];
        if (safe.Contains(parent))
        {
            return;
        }

        RequireSafeParent(target, parent, entryPath, safe);
        var host = target + "/" + parent;
        if (!ContainerLibC.TryLStat(host, out var stat, out _))
        {
            throw new UnsafeArchivePathException(entryPath, $"its parent '{parent}' is not in the archive before it");
        }

        if (stat.FileType != ContainerStatx.Directory)
        {
            throw new UnsafeArchivePathException(entryPath, stat.FileType == ContainerStatx.SymbolicLink
                ? $"its parent '{parent}' is a symlink"
                : $"its parent '{parent}' is not a directory");
        }

        safe.Add(parent);
    }

    private static void MakeDirectory(string host, string entryPath)
    {
        if (ContainerLibC.TryMakeDirectory(host, 0b111_000_000))
        {
            return;
        }

        // Already there (a mount point, lost+found): fine if it is a real directory.
        if (!ContainerLibC.TryLStat(host, out var stat, out _) || stat.FileType != ContainerStatx.Directory)
        {
            throw new UnsafeArchivePathException(entryPath, $"{host} exists and is not a directory");
        }
    }

    /// <summary>Creates a non-directory, replacing a non-directory that is in the way (as tar does).</summary>
    private static void Replace(string host, Action create)
    {
        try
        {
            create();
        }
        catch (IOException e) when (e.HResult == ContainerLibC.EEXIST)
        {
            RemoveNonDirectory(host);
            create();
        }
    }

    private static void RemoveNonDirectory(string host)
    {
        if (ContainerLibC.TryLStat(host, out var stat, out _) && stat.FileType == ContainerStatx.Directory)
        {
            throw new IOException($"{host} exists as a directory where the archive has a file");
        }

        File.Delete(host);
    }

    private static async Task<long> WriteFileAsync(IContainerArchiveReader archive, ContainerEntry entry, string host, NativeBuffer buffer, CancellationToken cancellationToken)
    {
        Microsoft.Win32.SafeHandles.SafeFileHandle handle;
        try
        {
            handle = ContainerLibC.CreateExclusive(host, 0b110_000_000);
        }
        catch (IOException e) when (e.HResult == ContainerLibC.EEXIST)
        {
            RemoveNonDirectory(host);
            handle = ContainerLibC.CreateExclusive(host, 0b110_000_000);
        }

        long written = 0;
        using (handle)
        {
            IReadOnlyList<SourceRange> extents = entry.DataExtents ?? (entry.Size > 0 ? [new SourceRange(0, entry.Size)] : []);
            foreach (var extent in extents)
            {
                var position = extent.Offset;
                while (position < extent.End)
                {
                    var want = (int)Math.Min(buffer.Length, extent.End - position);
                    var read = await archive.ReadFileAsync(entry, position, buffer.Memory[..want], cancellationToken).ConfigureAwait(false);
                    if (read <= 0)
                    {
                        throw new InvalidDataException($"archive file '{entry.Path}' ends at {position}, before its data extent {extent.Offset}+{extent.Length}");
                    }

                    RandomAccess.Write(handle, buffer.Span[..read], position);
                    position += read;
                    written += read;
                }
            }

            ContainerLibC.Truncate(handle, entry.Size, host);
        }

        return written;
    }

    private static void ApplyMetadata(ContainerEntry entry, string host, ref long xattrsSkipped)
    {
        ContainerLibC.ChangeOwner(host, entry.Uid, entry.Gid);
        if (entry.Kind != ContainerEntryKind.Symlink)
        {
            ContainerLibC.ChangeMode(host, entry.Mode & 0xFFF);
        }

        foreach (var xattr in entry.Xattrs)
        {
            try
            {
                ContainerLibC.SetXattr(host, xattr.Name, xattr.Value.Span);
            }
            catch (IOException e) when (e.HResult == ContainerLibC.EOPNOTSUPP)
            {
                // The target filesystem lacks that namespace (ACLs on a filesystem mounted noacl, say), as tar
                // --xattrs shrugs it off; anything else (EPERM, ENOSPC) is an error.
                xattrsSkipped++;
            }
        }

        ContainerLibC.SetTimes(host, entry.ModificationTimeNs);
    }

    private static int FileTypeOf(ContainerEntryKind kind) => kind switch
    {
        ContainerEntryKind.CharacterDevice => ContainerStatx.CharacterDevice,
        ContainerEntryKind.BlockDevice => ContainerStatx.BlockDevice,
        ContainerEntryKind.Fifo => ContainerStatx.Fifo,
        _ => ContainerStatx.Socket,
    };
}
