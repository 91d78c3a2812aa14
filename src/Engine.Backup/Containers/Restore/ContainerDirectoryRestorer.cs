using Engine.Blocks;
using Engine.Blocks.Buffers;
using Engine.Blocks.Native;
using Engine.Sources;
using Microsoft.Win32.SafeHandles;

namespace Engine.Backup.Containers.Restore;

/// <summary>
/// Recreates a container archive in a directory, exactly: file types (mknod, mkfifo, symlink, link), content written
/// sparsely (holes skipped, then ftruncate to the size), numeric owners, modes with set-id and sticky bits, every
/// xattr (POSIX ACLs and file capabilities included) and nanosecond mtimes. Entries are created in archive order on
/// one thread; regular files are finished (data of small ones, size, owner, mode, xattrs, mtime) on workers. Per file
/// the order is chown, chmod (after chown, which clears set-id bits), setxattr (after chown, which drops
/// capabilities), then the times, never following a symlink. Directories get their metadata after all their
/// children exist: so their mtimes stay, a default ACL is not inherited by restored children, and a read-only
/// directory still takes its children.
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
        if (!ContainerCalls.TryLStat(target, out var rootStat, out _) || rootStat.FileType != Statx.Directory)
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
        await using var finisher = new FileFinisher(Environment.ProcessorCount * 2, cancellationToken);
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
                    bytes += await RestoreFileAsync(archive, entry, host, buffer, finisher, cancellationToken).ConfigureAwait(false);
                    files.Add(relative);
                    fileCount++;
                    break;
                case ContainerEntryKind.HardLink:
                    var linked = Normalize(entry.LinkTarget ?? throw new UnsafeArchivePathException(entry.Path, "hard link without a target"));
                    if (!files.Contains(linked))
                    {
                        throw new UnsafeArchivePathException(entry.Path, $"hard link to '{entry.LinkTarget}', which is not an earlier regular file of the archive");
                    }

                    Replace(host, () => ContainerCalls.MakeHardLink(target + "/" + linked, host));
                    break;
                case ContainerEntryKind.Symlink:
                    Replace(host, () => ContainerCalls.MakeSymlink(entry.LinkTarget ?? "", host));
                    ApplyMetadata(entry, host, ref xattrsSkipped);
                    break;
                case ContainerEntryKind.CharacterDevice:
                case ContainerEntryKind.BlockDevice:
                case ContainerEntryKind.Fifo:
                case ContainerEntryKind.Socket:
                    Replace(host, () => ContainerCalls.MakeNode(host, FileTypeOf(entry.Kind), 0b110_000_000, entry.DeviceMajor, entry.DeviceMinor));
                    ApplyMetadata(entry, host, ref xattrsSkipped);
                    break;
                default:
                    throw new InvalidDataException($"archive entry '{entry.Path}' has unknown kind {entry.Kind}");
            }
        }

        await finisher.CompleteAsync().ConfigureAwait(false);

        // Deepest first: a parent's metadata (and mtime) is set after everything inside it.
        for (var i = directories.Count - 1; i >= 0; i--)
        {
            cancellationToken.ThrowIfCancellationRequested();
            ApplyMetadata(directories[i].Entry, directories[i].Host, ref xattrsSkipped);
        }

        return new ContainerRestoreSummary(entries, fileCount, bytes, xattrsSkipped + finisher.XattrsSkipped);
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
        if (!ContainerCalls.TryLStat(host, out var stat, out _))
        {
            throw new UnsafeArchivePathException(entryPath, $"its parent '{parent}' is not in the archive before it");
        }

        if (stat.FileType != Statx.Directory)
        {
            throw new UnsafeArchivePathException(entryPath, stat.FileType == Statx.SymbolicLink
                ? $"its parent '{parent}' is a symlink"
                : $"its parent '{parent}' is not a directory");
        }

        safe.Add(parent);
    }

    private static void MakeDirectory(string host, string entryPath)
    {
        if (ContainerCalls.TryMakeDirectory(host, 0b111_000_000))
        {
            return;
        }

        // Already there (a mount point, lost+found): fine if it is a real directory.
        if (!ContainerCalls.TryLStat(host, out var stat, out _) || stat.FileType != Statx.Directory)
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
        catch (IOException e) when (e.HResult == Errno.EEXIST)
        {
            RemoveNonDirectory(host);
            create();
        }
    }

    private static void RemoveNonDirectory(string host)
    {
        if (ContainerCalls.TryLStat(host, out var stat, out _) && stat.FileType == Statx.Directory)
        {
            throw new IOException($"{host} exists as a directory where the archive has a file");
        }

        File.Delete(host);
    }

    /// <summary>
    /// Creates a regular file and hands it to the finisher: a small one with its data (read here, in archive order),
    /// a large one after its data is written here, in pieces.
    /// </summary>
    private static async Task<long> RestoreFileAsync(IContainerArchiveReader archive, ContainerEntry entry, string host, NativeBuffer buffer,
        FileFinisher finisher, CancellationToken cancellationToken)
    {
        SafeFileHandle handle;
        try
        {
            handle = ContainerCalls.CreateExclusive(host, 0b110_000_000);
        }
        catch (IOException e) when (e.HResult == Errno.EEXIST)
        {
            RemoveNonDirectory(host);
            handle = ContainerCalls.CreateExclusive(host, 0b110_000_000);
        }

        IReadOnlyList<SourceRange> extents = entry.DataExtents ?? (entry.Size > 0 ? [new SourceRange(0, entry.Size)] : []);
        long dataLength = 0;
        foreach (var extent in extents)
        {
            dataLength += extent.Length;
        }

        if (dataLength > CopyBufferSize)
        {
            using (handle)
            {
                await WriteExtentsAsync(archive, entry, extents, handle, buffer, cancellationToken).ConfigureAwait(false);
                finisher.Finish(entry, host, handle, null);
            }

            return dataLength;
        }

        var data = dataLength == 0 ? null : BufferPool.Shared.Rent((int)dataLength);
        try
        {
            var position = 0;
            foreach (var extent in extents)
            {
                await ReadExactlyAsync(archive, entry, extent.Offset, data!.Memory.Slice(position, (int)extent.Length), cancellationToken).ConfigureAwait(false);
                position += (int)extent.Length;
            }
        }
        catch
        {
            handle.Dispose();
            data?.Dispose();
            throw;
        }

        await finisher.SubmitAsync(entry, host, handle, data).ConfigureAwait(false);
        return dataLength;
    }

    private static async Task WriteExtentsAsync(IContainerArchiveReader archive, ContainerEntry entry, IReadOnlyList<SourceRange> extents,
        SafeFileHandle handle, NativeBuffer buffer, CancellationToken cancellationToken)
    {
        foreach (var extent in extents)
        {
            var position = extent.Offset;
            while (position < extent.End)
            {
                var want = (int)Math.Min(buffer.Length, extent.End - position);
                await ReadExactlyAsync(archive, entry, position, buffer.Memory[..want], cancellationToken).ConfigureAwait(false);
                RandomAccess.Write(handle, buffer.Span[..want], position);
                position += want;
            }
        }
    }

    private static async Task ReadExactlyAsync(IContainerArchiveReader archive, ContainerEntry entry, long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        var done = 0;
        while (done < destination.Length)
        {
            var read = await archive.ReadFileAsync(entry, offset + done, destination[done..], cancellationToken).ConfigureAwait(false);
            if (read <= 0)
            {
                throw new InvalidDataException($"archive file '{entry.Path}' ends at {offset + done}, before the end of its data");
            }

            done += read;
        }
    }

    private static void ApplyMetadata(ContainerEntry entry, string host, ref long xattrsSkipped)
    {
        ContainerCalls.ChangeOwner(host, entry.Uid, entry.Gid);
        if (entry.Kind != ContainerEntryKind.Symlink)
        {
            ContainerCalls.ChangeMode(host, entry.Mode & 0xFFF);
        }

        foreach (var xattr in entry.Xattrs)
        {
            try
            {
                ContainerCalls.SetXattr(host, xattr.Name, xattr.Value.Span);
            }
            catch (IOException e) when (e.HResult == Errno.EOPNOTSUPP)
            {
                // The target filesystem lacks that namespace (ACLs on a filesystem mounted noacl, say), as tar
                // --xattrs shrugs it off; anything else (EPERM, ENOSPC) is an error.
                xattrsSkipped++;
            }
        }

        ContainerCalls.SetTimes(host, entry.ModificationTimeNs);
    }

    private static int FileTypeOf(ContainerEntryKind kind) => kind switch
    {
        ContainerEntryKind.CharacterDevice => Statx.CharacterDevice,
        ContainerEntryKind.BlockDevice => Statx.BlockDevice,
        ContainerEntryKind.Fifo => Statx.Fifo,
        _ => Statx.Socket,
    };
}
