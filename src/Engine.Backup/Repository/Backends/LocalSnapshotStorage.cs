using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Snapshots;
using Engine.Blocks;
using Engine.Blocks.Native;
using Microsoft.Win32.SafeHandles;

namespace Engine.Backup.Repository.Backends;

/// <summary>
/// A repository in a local directory (<c>docs/repository-format.md</c>): snapshots in <c>snapshots/TYPE/VMID/TIME/</c>,
/// reserved by <c>mkdir</c> and committed by renaming the manifest into place after a <c>syncfs</c>; writers registered
/// by a locked file in <c>writers/</c>; chunks as files of the <see cref="ChunkStore"/>.
/// </summary>
internal sealed class LocalSnapshotStorage : ISnapshotStorage
{
    /// <summary>The manifest's file name in a snapshot directory.</summary>
    public const string ManifestFileName = "manifest.json";

    // Opened on first use: a container's mapped root opens the repository to reach its staging folder, and may
    // pass through the repository's folder but not open it.
    private SafeFileHandle? _directoryHandle;

    /// <summary>Storage for the repository in <paramref name="directory"/> (absolute), whose chunks are <paramref name="chunks"/>.</summary>
    public LocalSnapshotStorage(string directory, ChunkStore chunks)
    {
        Directory = directory;
        LocalChunks = chunks;
        SnapshotsDirectory = Path.Combine(directory, "snapshots");
        TmpDirectory = Path.Combine(directory, "tmp");
        WritersDirectory = Path.Combine(directory, "writers");
    }

    /// <summary>The repository's directory.</summary>
    public string Directory { get; }

    /// <inheritdoc/>
    public string Location => Directory;

    /// <summary>The chunk files.</summary>
    public ChunkStore LocalChunks { get; }

    /// <inheritdoc/>
    public IRepositoryChunks Chunks => LocalChunks;

    public string SnapshotsDirectory { get; }

    public string TmpDirectory { get; }

    public string WritersDirectory { get; }

    /// <summary>The directory of a snapshot (complete or not).</summary>
    public string SnapshotPath(SnapshotId id) => Path.Combine(SnapshotsDirectory, id.Type, id.Vmid, id.TimeText);

    /// <inheritdoc/>
    public string WhereOf(SnapshotId id, string? fileName = null) => fileName is null ? SnapshotPath(id) : Path.Combine(SnapshotPath(id), fileName);

    /// <inheritdoc/>
    public IReadOnlyList<SnapshotId> ListCommitted(string? type, string? vmid) =>
        EnumerateSnapshotIds(type, vmid).Where(IsCommitted).ToList();

    /// <inheritdoc/>
    public bool IsCommitted(SnapshotId id) => File.Exists(WhereOf(id, ManifestFileName));

    /// <inheritdoc/>
    public byte[]? ReadFile(SnapshotId id, string fileName)
    {
        try
        {
            return File.ReadAllBytes(WhereOf(id, fileName));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <inheritdoc/>
    public string LocalPathOf(SnapshotId id, string fileName) => WhereOf(id, fileName);

    /// <summary>Every snapshot directory with a well-formed name (complete or not).</summary>
    public IEnumerable<SnapshotId> EnumerateSnapshotIds(string? type, string? vmid)
    {
        foreach (var typeDirectory in EnumerateDirectories(SnapshotsDirectory))
        {
            var typeName = Path.GetFileName(typeDirectory);
            if (!SnapshotId.IsValidType(typeName) || (type is not null && type != typeName))
            {
                continue;
            }

            foreach (var guestDirectory in EnumerateDirectories(typeDirectory))
            {
                var guest = Path.GetFileName(guestDirectory);
                if (!SnapshotId.IsValidVmid(guest) || (vmid is not null && vmid != guest))
                {
                    continue;
                }

                foreach (var timeDirectory in EnumerateDirectories(guestDirectory))
                {
                    if (SnapshotId.TryParseTime(Path.GetFileName(timeDirectory), out var time))
                    {
                        var id = new SnapshotId(typeName, guest, time);
                        if (id.TimeText == Path.GetFileName(timeDirectory))
                        {
                            yield return id;
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// The subdirectories of <paramref name="path"/>, none when it is missing. Read at once rather than lazily: a
    /// guest's folder disappears whenever its failed first backup removes it, possibly between a check and the read.
    /// </summary>
    private static string[] EnumerateDirectories(string path)
    {
        try
        {
            return System.IO.Directory.GetDirectories(path);
        }
        catch (DirectoryNotFoundException)
        {
            return [];
        }
    }

    /// <inheritdoc/>
    public SnapshotDraft Begin(SnapshotId id, CancellationToken cancellationToken)
    {
        var registration = WriterRegistration.Register(WritersDirectory, TmpDirectory);
        try
        {
            var directory = ReserveDirectory(ref id);
            registration.RecordSnapshot(id);
            return new SnapshotDraft(id, directory, registration);
        }
        catch
        {
            registration.Dispose();
            throw;
        }
    }

    private string ReserveDirectory(ref SnapshotId id)
    {
        for (var attempt = 0; attempt < 100_000; attempt++)
        {
            var directory = SnapshotPath(id);
            if (LibC.MkDir(directory, 0b111_000_000) == 0)
            {
                return directory;
            }

            var errno = LibC.LastErrno;
            if (errno == Errno.ENOENT)
            {
                RepositoryFiles.CreateDirectory(Path.GetDirectoryName(directory)!);
            }
            else if (errno == Errno.EEXIST)
            {
                // That second is taken (another backup of this guest, or a leftover): take the next one.
                id = id with { Time = id.Time.AddSeconds(1) };
            }
            else
            {
                throw RepositoryCalls.Error(errno, "mkdir", directory);
            }
        }

        throw new RepositoryException(SnapshotPath(id), $"no free snapshot time for {id.Type}/{id.Vmid}");
    }

    /// <summary>
    /// Syncs the repository's filesystem (every chunk, index and catalog written so far), then writes the manifest to a
    /// temporary file, fsyncs it, renames it into the snapshot directory and fsyncs that: the snapshot survives a power
    /// loss once this returns.
    /// </summary>
    public Task<SnapshotId> CommitAsync(SnapshotDraft draft, Func<SnapshotId, byte[]> manifest, IReadOnlyCollection<ChunkDigest> chunks, CancellationToken cancellationToken) =>
        Task.Run(() =>
        {
            SyncChunks();
            var temporary = Path.Combine(TmpDirectory, "manifest-" + Guid.NewGuid().ToString("N"));
            try
            {
                RepositoryFiles.WriteNew(temporary, manifest(draft.Id), sync: true);
                File.Move(temporary, Path.Combine(draft.Directory, ManifestFileName));
            }
            catch
            {
                File.Delete(temporary);
                throw;
            }

            RepositoryCalls.FSyncDirectory(draft.Directory);
            return draft.Id;
        }, cancellationToken);

    /// <inheritdoc/>
    public void Abort(SnapshotDraft draft)
    {
        try
        {
            if (System.IO.Directory.Exists(draft.Directory))
            {
                System.IO.Directory.Delete(draft.Directory, recursive: true);

                // The guest's directory too, when this was its only snapshot: a failed first backup leaves nothing.
                // rmdir fails harmlessly when another snapshot is there or being reserved.
                _ = LibC.RmDir(Path.GetDirectoryName(draft.Directory)!);
            }
        }
        finally
        {
            draft.Lease.Dispose();
        }
    }

    /// <summary>Deletes a snapshot atomically: its directory is renamed out of <c>snapshots/</c> first.</summary>
    public void Delete(SnapshotId id)
    {
        var directory = SnapshotPath(id);
        if (!IsCommitted(id))
        {
            throw new SnapshotNotFoundException(id, directory);
        }

        var trash = Path.Combine(TmpDirectory, "deleted-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.Move(directory, trash);
        System.IO.Directory.Delete(trash, recursive: true);
    }

    /// <summary>syncfs(2) of the repository's filesystem: every chunk and index written so far becomes durable.</summary>
    public void SyncChunks()
    {
        var handle = _directoryHandle;
        if (handle is null)
        {
            handle = RepositoryCalls.OpenOrThrow(Directory, LibC.O_RDONLY | LibC.O_DIRECTORY);
            if (Interlocked.CompareExchange(ref _directoryHandle, handle, null) is { } opened)
            {
                handle.Dispose();
                handle = opened;
            }
        }

        if (LibC.SyncFs(handle) != 0)
        {
            throw RepositoryCalls.Error(LibC.LastErrno, "syncfs", Directory);
        }
    }

    /// <inheritdoc/>
    public void Dispose() => Interlocked.Exchange(ref _directoryHandle, null)?.Dispose();
}
