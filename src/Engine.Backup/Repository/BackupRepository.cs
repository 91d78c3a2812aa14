using System.Text.Json;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Formats;
using Engine.Backup.Repository.Snapshots;
using Engine.Blocks;
using Engine.Blocks.Native;
using Microsoft.Win32.SafeHandles;

namespace Engine.Backup.Repository;

/// <summary>
/// A deduplicating backup repository in a local directory:
/// <code>
/// engine-repository.json                      format, chunk size, compression level
/// chunks/ab/abcd…                             one file per distinct chunk, named by its SHA-256
/// snapshots/TYPE/VMID/TIME/manifest.json      a snapshot exists exactly when its manifest does
/// snapshots/TYPE/VMID/TIME/DEVICE.index       the device's ordered chunk digests
/// snapshots/ct/VMID/TIME/archive.catalog      a container's files and their content-defined chunks
/// staging/                                    unprivileged container backups awaiting import (provider)
/// tmp/                                        temporary files, renamed into place
/// writers/                                    one locked file per running snapshot writer
/// </code>
/// Several processes may back up into one repository at once; garbage collection is safe while they run.
/// </summary>
public sealed partial class BackupRepository : IDisposable
{
    /// <summary>The manifest's file name in a snapshot directory.</summary>
    internal const string ManifestFileName = "manifest.json";

    // Opened on first use: a container's mapped root opens the repository to reach its staging folder, and may
    // pass through the repository's folder but not open it.
    private SafeFileHandle? _directoryHandle;
    private readonly RepositoryOptions _options;
    private bool _disposed;

    private BackupRepository(string directory, RepositoryConfig config, RepositoryOptions options)
    {
        Directory = directory;
        ChunkSize = config.ChunkSize;
        CompressionLevel = config.CompressionLevel;
        _options = options;
        SnapshotsDirectory = Path.Combine(directory, "snapshots");
        TmpDirectory = Path.Combine(directory, "tmp");
        WritersDirectory = Path.Combine(directory, "writers");
        Chunks = new ChunkStore(Path.Combine(directory, "chunks"), TmpDirectory, config.CompressionLevel, options.SyncEachChunk, options.ParentChunkDirectory);
    }

    /// <summary>The repository's directory (absolute).</summary>
    public string Directory { get; }

    /// <summary>Chunk size of disk images in this repository.</summary>
    public int ChunkSize { get; }

    /// <summary>zstd level of new chunks.</summary>
    public int CompressionLevel { get; }

    /// <summary>The chunk files.</summary>
    internal ChunkStore Chunks { get; }

    internal string SnapshotsDirectory { get; }

    internal string TmpDirectory { get; }

    internal string WritersDirectory { get; }

    /// <summary>
    /// Opens the repository in <paramref name="directory"/>, creating it when the directory is missing or empty
    /// (unless <paramref name="create"/> is false).
    /// </summary>
    /// <exception cref="RepositoryNotFoundException">No repository there and <paramref name="create"/> is false.</exception>
    /// <exception cref="RepositoryException">The directory holds something else, or a bad configuration.</exception>
    public static BackupRepository Open(string directory, RepositoryOptions? options = null, bool create = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        options ??= new RepositoryOptions();
        var full = Path.GetFullPath(directory);
        var configPath = Path.Combine(full, RepositoryConfig.FileName);
        try
        {
            RepositoryConfig config;
            if (File.Exists(configPath))
            {
                config = ReadConfig(configPath);
            }
            else if (!create)
            {
                throw new RepositoryNotFoundException(full);
            }
            else if (ForeignEntry(full) is { } foreign)
            {
                throw new RepositoryException(full, $"{full} is not an Engine repository (no {RepositoryConfig.FileName}) and is not empty: it holds {foreign}");
            }
            else
            {
                config = Initialize(full, options);
            }

            // Also tightens a repository an earlier Engine made readable to everybody (best effort: only its owner can).
            RepositoryFiles.TrySetMode(full, RepositoryFiles.SearchOnlyDirectoryMode);
            RepositoryFiles.TightenChunkFolders(Path.Combine(full, "chunks"));
            foreach (var sub in (ReadOnlySpan<string>)["chunks", "snapshots", "tmp", "writers"])
            {
                var path = Path.Combine(full, sub);
                var mode = sub == "chunks" ? RepositoryFiles.SearchOnlyDirectoryMode : RepositoryFiles.PrivateDirectoryMode;
                RepositoryFiles.CreateDirectory(path, mode);
                RepositoryFiles.TrySetMode(path, mode);
            }

            return new BackupRepository(full, config, options);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RepositoryException(full, $"cannot open repository {full}: {e.Message}", e);
        }
    }

    /// <summary>
    /// The first entry of <paramref name="directory"/> that a repository being created would not have made, or null.
    /// Our own sub-directories may exist without a configuration: a creation was interrupted, and is finished now.
    /// </summary>
    private static string? ForeignEntry(string directory)
    {
        if (!System.IO.Directory.Exists(directory))
        {
            return null;
        }

        foreach (var entry in System.IO.Directory.EnumerateFileSystemEntries(directory))
        {
            if (Path.GetFileName(entry) is not ("chunks" or "snapshots" or "tmp" or "writers"))
            {
                return Path.GetFileName(entry);
            }
        }

        return null;
    }

    private static RepositoryConfig Initialize(string directory, RepositoryOptions options)
    {
        ValidateFormat(directory, options.ChunkSize, options.CompressionLevel);

        // Folders above the repository are the user's: made with the usual mode, only the repository is private.
        if (Path.GetDirectoryName(Path.GetFullPath(directory)) is { } parent)
        {
            System.IO.Directory.CreateDirectory(parent);
        }

        RepositoryFiles.CreateDirectory(directory, RepositoryFiles.SearchOnlyDirectoryMode);
        var chunks = Path.Combine(directory, "chunks");
        for (var prefix = 0; prefix < 256; prefix++)
        {
            RepositoryFiles.CreateDirectory(Path.Combine(chunks, prefix.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)), RepositoryFiles.SearchOnlyDirectoryMode);
        }

        var tmp = Path.Combine(directory, "tmp");
        RepositoryFiles.CreateDirectory(tmp);
        var config = new RepositoryConfig { ChunkSize = options.ChunkSize, CompressionLevel = options.CompressionLevel };
        var temporary = Path.Combine(tmp, "config-" + Guid.NewGuid().ToString("N"));
        // Readable by all: it holds only the format, and a container's mapped root must read it to open the repository.
        RepositoryFiles.WriteNew(temporary, JsonSerializer.SerializeToUtf8Bytes(config, RepositoryJsonContext.Default.RepositoryConfig), mode: RepositoryFiles.PublicFileMode);
        // A concurrent creator may win; its configuration then stands and ours is discarded.
        try
        {
            File.Move(temporary, Path.Combine(directory, RepositoryConfig.FileName));
        }
        catch (IOException) when (File.Exists(Path.Combine(directory, RepositoryConfig.FileName)))
        {
            File.Delete(temporary);
            return ReadConfig(Path.Combine(directory, RepositoryConfig.FileName));
        }

        return config;
    }

    private static RepositoryConfig ReadConfig(string path)
    {
        RepositoryConfig? config;
        try
        {
            config = JsonSerializer.Deserialize(File.ReadAllBytes(path), RepositoryJsonContext.Default.RepositoryConfig);
        }
        catch (JsonException e)
        {
            throw new RepositoryCorruptException(path, $"{path} is not a valid repository configuration: {e.Message}", e);
        }

        if (config is null || config.Format != RepositoryConfig.CurrentFormat)
        {
            throw new RepositoryCorruptException(path, $"{path}: unsupported repository format {config?.Format} (this Engine reads format {RepositoryConfig.CurrentFormat})");
        }

        ValidateFormat(path, config.ChunkSize, config.CompressionLevel);
        return config;
    }

    private static void ValidateFormat(string path, int chunkSize, int compressionLevel)
    {
        if (chunkSize < 4096 || chunkSize > ChunkStore.MaxChunkLength || chunkSize % 4096 != 0)
        {
            throw new RepositoryException(path, $"chunk size {chunkSize} must be a multiple of 4 KiB between 4 KiB and {ChunkStore.MaxChunkLength >> 20} MiB");
        }

        if (compressionLevel < 1 || compressionLevel > 22)
        {
            throw new RepositoryException(path, $"compression level {compressionLevel} must be 1 to 22");
        }
    }

    /// <summary>Complete snapshots, oldest first, optionally only of one type and/or guest.</summary>
    /// <exception cref="RepositoryCorruptException">A manifest is unreadable.</exception>
    public IReadOnlyList<SnapshotManifest> ListSnapshots(string? type = null, string? vmid = null)
    {
        var manifests = new List<SnapshotManifest>();
        foreach (var id in EnumerateSnapshotIds(type, vmid))
        {
            var path = ManifestPath(id);
            if (File.Exists(path))
            {
                try
                {
                    manifests.Add(ReadManifestFile(id, path));
                }
                catch (SnapshotNotFoundException)
                {
                    // deleted while listing
                }
            }
        }

        manifests.Sort(static (a, b) => CompareIds(a.Id, b.Id));
        return manifests;
    }

    /// <summary>The newest complete snapshot of a guest, or null.</summary>
    public SnapshotManifest? FindLatest(string type, string vmid)
    {
        var all = ListSnapshots(type, vmid);
        return all.Count == 0 ? null : all[^1];
    }

    /// <summary>Reads a complete snapshot's manifest.</summary>
    /// <exception cref="SnapshotNotFoundException">No such complete snapshot.</exception>
    /// <exception cref="RepositoryCorruptException">The manifest is unreadable.</exception>
    public SnapshotManifest ReadManifest(SnapshotId id)
    {
        id.Validate();
        return ReadManifestFile(id, ManifestPath(id));
    }

    /// <summary>Reads one device's index of a snapshot, checked against its own trailer and the manifest.</summary>
    /// <exception cref="SnapshotNotFoundException">No such complete snapshot.</exception>
    /// <exception cref="DeviceNotFoundException">The snapshot has no such device.</exception>
    /// <exception cref="RepositoryCorruptException">The index is truncated, damaged or does not match the manifest.</exception>
    internal DeviceIndex ReadIndex(SnapshotId id, string device)
    {
        var manifest = ReadManifest(id);
        foreach (var entry in manifest.Devices)
        {
            if (entry.Name == device)
            {
                return ReadIndex(id, entry);
            }
        }

        throw new DeviceNotFoundException(id, device, SnapshotPath(id), manifest.Devices.Select(d => d.Name));
    }

    internal DeviceIndex ReadIndex(SnapshotId id, DeviceEntry entry)
    {
        var path = Path.Combine(SnapshotPath(id), entry.Index);
        if (!IsValidDeviceName(entry.Name) || entry.Index != entry.Name + ".index")
        {
            throw new RepositoryCorruptException(path, $"manifest of {id} names a bad index file '{entry.Index}'");
        }

        var index = DeviceIndexFile.Read(path, entry.Name, entry.IndexChecksum);
        if (index.Size != entry.Size || index.ChunkSize != entry.ChunkSize)
        {
            throw new RepositoryCorruptException(path, $"index {path} ({index.Size} bytes, chunks of {index.ChunkSize}) does not match the manifest ({entry.Size}, {entry.ChunkSize})");
        }

        return index;
    }

    /// <summary>The catalog file of a snapshot's container archive; its name must be a plain <c>*.catalog</c> file name.</summary>
    /// <exception cref="RepositoryCorruptException">The manifest names something else.</exception>
    internal string ArchiveCatalogPath(SnapshotId id, ArchiveEntry archive)
    {
        var name = archive.Catalog;
        var path = Path.Combine(SnapshotPath(id), name ?? "");
        if (string.IsNullOrEmpty(name) || !name.EndsWith(".catalog", StringComparison.Ordinal) ||
            !IsValidDeviceName(name[..^".catalog".Length]))
        {
            throw new RepositoryCorruptException(path, $"manifest of {id} names a bad catalog file '{name}'");
        }

        return path;
    }

    /// <summary>The directory of a snapshot (complete or not).</summary>
    internal string SnapshotPath(SnapshotId id) => Path.Combine(SnapshotsDirectory, id.Type, id.Vmid, id.TimeText);

    internal string ManifestPath(SnapshotId id) => Path.Combine(SnapshotPath(id), ManifestFileName);

    /// <summary>Every snapshot directory with a well-formed name (complete or not).</summary>
    internal IEnumerable<SnapshotId> EnumerateSnapshotIds(string? type, string? vmid)
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

    private static int CompareIds(SnapshotId a, SnapshotId b)
    {
        var byTime = a.Time.CompareTo(b.Time);
        if (byTime != 0)
        {
            return byTime;
        }

        var byType = string.CompareOrdinal(a.Type, b.Type);
        return byType != 0 ? byType : a.Vmid.Length != b.Vmid.Length ? a.Vmid.Length - b.Vmid.Length : string.CompareOrdinal(a.Vmid, b.Vmid);
    }

    private static SnapshotManifest ReadManifestFile(SnapshotId id, string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new SnapshotNotFoundException(id, Path.GetDirectoryName(path)!);
        }

        SnapshotManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize(bytes, RepositoryJsonContext.Default.SnapshotManifest);
        }
        catch (JsonException e)
        {
            throw new RepositoryCorruptException(path, $"manifest {path} is not valid: {e.Message}", e);
        }

        if (manifest is null || manifest.Id != id || manifest.Devices is null || manifest.Stats is null)
        {
            throw new RepositoryCorruptException(path, $"manifest {path} does not describe snapshot {id}");
        }

        // JSON nulls and missing members get past the deserializer; every reader dereferences these.
        if (manifest.Devices.Any(d => d?.Name is null || d.Index is null || d.IndexChecksum is null) ||
            manifest.Archive is { Catalog: null } or { CatalogChecksum: null } or { Chunking: null })
        {
            throw new RepositoryCorruptException(path, $"manifest {path} has a device or archive entry without its name, file or checksum");
        }

        manifest.Extra ??= new SortedDictionary<string, string>(StringComparer.Ordinal);
        return manifest;
    }

    /// <summary>
    /// Starts a snapshot of a guest at <paramref name="time"/> (default now, UTC, whole seconds). When that second is
    /// taken the next free second is used. Dispose the writer without committing to abort.
    /// </summary>
    /// <exception cref="ArgumentException">Type is not vm/ct or vmid is not a number.</exception>
    internal SnapshotWriter BeginSnapshot(string type, string vmid, DateTimeOffset? time = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var id = new SnapshotId(type, vmid, time ?? DateTimeOffset.UtcNow);
        id.Validate();
        var registration = WriterRegistration.Register(WritersDirectory, TmpDirectory);
        try
        {
            var directory = ReserveDirectory(ref id);
            registration.RecordSnapshot(id);
            return new SnapshotWriter(this, id, directory, registration);
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

    /// <summary>Whether <paramref name="name"/> is a safe device name: <c>[A-Za-z0-9_.+-]+</c>, not <c>.</c> or <c>..</c>.</summary>
    internal static bool IsValidDeviceName(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 128 || name is "." or "..")
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('_' or '.' or '+' or '-'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>syncfs(2) of the repository's filesystem: every chunk and index written so far becomes durable.</summary>
    internal void SyncFileSystem()
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

    /// <summary>
    /// Deletes a snapshot atomically (its directory is renamed out of <c>snapshots/</c> first). Its chunks stay until
    /// garbage collection.
    /// </summary>
    /// <exception cref="SnapshotNotFoundException">No such complete snapshot.</exception>
    public void DeleteSnapshot(SnapshotId id)
    {
        id.Validate();
        var directory = SnapshotPath(id);
        if (!File.Exists(Path.Combine(directory, ManifestFileName)))
        {
            throw new SnapshotNotFoundException(id, directory);
        }

        var trash = Path.Combine(TmpDirectory, "deleted-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.Move(directory, trash);
        System.IO.Directory.Delete(trash, recursive: true);
    }

    /// <summary>Closes the repository.</summary>
    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            Interlocked.Exchange(ref _directoryHandle, null)?.Dispose();
        }
    }
}
