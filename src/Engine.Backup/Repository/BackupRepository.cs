using System.Text.Json;
using Engine.Backup.Repository.Backends;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Formats;
using Engine.Backup.Repository.Snapshots;
using Engine.Backup.Repository.Storage;
using Engine.Backup.Repository.Storage.Stack;

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
/// The same repository can live in an object store (<see cref="OpenAsync"/>, an S3 bucket through
/// <c>Engine.Backup.S3</c>) with the same keys: <see cref="ISnapshotStorage"/> is where the two differ.
/// </summary>
public sealed partial class BackupRepository : IDisposable
{
    /// <summary>The manifest's file name in a snapshot directory.</summary>
    internal const string ManifestFileName = LocalSnapshotStorage.ManifestFileName;

    private readonly RepositoryOptions _options;
    private readonly ISnapshotStorage _storage;
    private bool _disposed;

    private BackupRepository(string location, RepositoryConfig config, RepositoryOptions options, ISnapshotStorage storage)
    {
        Directory = location;
        ChunkSize = config.ChunkSize;
        CompressionLevel = config.CompressionLevel;
        _options = options;
        _storage = storage;
    }

    /// <summary>The repository's directory (absolute), or <c>s3://BUCKET/PREFIX</c> for one in an object store.</summary>
    public string Directory { get; }

    /// <summary>Whether the repository lives in an object store rather than a local directory.</summary>
    public bool IsObjectStore => _storage is ObjectSnapshotStorage;

    /// <summary>Chunk size of disk images in this repository.</summary>
    public int ChunkSize { get; }

    /// <summary>zstd level of new chunks.</summary>
    public int CompressionLevel { get; }

    /// <summary>The chunks, wherever they live.</summary>
    internal IRepositoryChunks Chunks => _storage.Chunks;

    /// <summary>The local directory's storage; what only a local repository has (flocks, mtimes, staging) goes through it.</summary>
    /// <exception cref="NotSupportedException">The repository is in an object store.</exception>
    internal LocalSnapshotStorage Local => _storage as LocalSnapshotStorage
        ?? throw new NotSupportedException($"{Directory} is in an object store; this operation needs a local repository");

    /// <summary>The object store's storage, or null for a local repository.</summary>
    internal ObjectSnapshotStorage? Objects => _storage as ObjectSnapshotStorage;

    /// <summary>The chunk files of a local repository.</summary>
    internal ChunkStore LocalChunks => Local.LocalChunks;

    internal string SnapshotsDirectory => Local.SnapshotsDirectory;

    internal string TmpDirectory => Local.TmpDirectory;

    internal string WritersDirectory => Local.WritersDirectory;

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

            var chunks = new ChunkStore(Path.Combine(full, "chunks"), Path.Combine(full, "tmp"), config.CompressionLevel, options.SyncEachChunk, options.ParentChunkDirectory);
            return new BackupRepository(full, config, options, new LocalSnapshotStorage(full, chunks));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RepositoryException(full, $"cannot open repository {full}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Opens a repository in an object store (the S3 backend's <c>S3Repository.OpenAsync</c> reads its <c>config</c> and
    /// calls this): wraps <paramref name="backend"/> (owned) in the store stack (retry, limits, known-chunk cache) and
    /// keeps its snapshots and chunks there.
    /// </summary>
    /// <exception cref="RepositoryException">The settings' chunk format is invalid.</exception>
    public static async Task<BackupRepository> OpenAsync(IObjectStore backend, ObjectRepositorySettings settings, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(settings);
        try
        {
            ValidateFormat(backend.Location, settings.ChunkSize, settings.CompressionLevel);
        }
        catch
        {
            await backend.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        string generation;
        try
        {
            generation = await ObjectStoreStack.ReadGenerationAsync(backend, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await backend.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        var store = await ObjectStoreStack.BuildAsync(backend, new ObjectStoreStackOptions(KnownChunks: true, CachePath: settings.CachePath, RepositoryId: settings.RepositoryId), cancellationToken).ConfigureAwait(false);
        var config = new RepositoryConfig { ChunkSize = settings.ChunkSize, CompressionLevel = settings.CompressionLevel };
        var options = new RepositoryOptions { ChunkSize = settings.ChunkSize, CompressionLevel = settings.CompressionLevel, GcGrace = settings.GcGrace };
        var storage = new ObjectSnapshotStorage(store, settings.CompressionLevel, settings.RetainDays, settings.LockMode, generation, settings.LeaseTimes);
        return new BackupRepository(store.Location, config, options, storage);
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
        foreach (var id in _storage.ListCommitted(type, vmid))
        {
            try
            {
                manifests.Add(ReadManifest(id));
            }
            catch (SnapshotNotFoundException)
            {
                // deleted while listing
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
        return ReadManifestFile(id, ManifestPath(id), _storage.ReadFile(id, ManifestFileName));
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
        var path = _storage.WhereOf(id, entry.Index);
        if (!IsValidDeviceName(entry.Name) || entry.Index != entry.Name + ".index")
        {
            throw new RepositoryCorruptException(path, $"manifest of {id} names a bad index file '{entry.Index}'");
        }

        var index = DeviceIndexFile.Read(LocalCopyOf(id, entry.Index, path), entry.Name, entry.IndexChecksum);
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
        var path = _storage.WhereOf(id, name ?? "");
        if (string.IsNullOrEmpty(name) || !name.EndsWith(".catalog", StringComparison.Ordinal) ||
            !IsValidDeviceName(name[..^".catalog".Length]))
        {
            throw new RepositoryCorruptException(path, $"manifest of {id} names a bad catalog file '{name}'");
        }

        return LocalCopyOf(id, name, path);
    }

    /// <summary>
    /// A local file with a snapshot file's bytes, for the readers that parse by path. A local repository's own file is
    /// returned whether or not it exists (its reader reports a missing one); an object store's missing object is
    /// reported here.
    /// </summary>
    private string LocalCopyOf(SnapshotId id, string fileName, string where)
    {
        try
        {
            return _storage.LocalPathOf(id, fileName);
        }
        catch (FileNotFoundException e)
        {
            throw new RepositoryCorruptException(where, $"{where} is missing though the manifest of {id} names it", e);
        }
    }

    /// <summary>Where a snapshot is (complete or not): its directory, or its key prefix in an object store.</summary>
    internal string SnapshotPath(SnapshotId id) => _storage.WhereOf(id);

    internal string ManifestPath(SnapshotId id) => _storage.WhereOf(id, ManifestFileName);

    /// <summary>Whether the snapshot is complete (its manifest exists).</summary>
    internal bool IsCommitted(SnapshotId id) => _storage.IsCommitted(id);

    /// <summary>Every snapshot directory with a well-formed name (complete or not) of a local repository.</summary>
    internal IEnumerable<SnapshotId> EnumerateSnapshotIds(string? type, string? vmid) => Local.EnumerateSnapshotIds(type, vmid);

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

    private SnapshotManifest ReadManifestFile(SnapshotId id, string path, byte[]? bytes)
    {
        if (bytes is null)
        {
            throw new SnapshotNotFoundException(id, SnapshotPath(id));
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
    internal SnapshotWriter BeginSnapshot(string type, string vmid, DateTimeOffset? time = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var id = new SnapshotId(type, vmid, time ?? DateTimeOffset.UtcNow);
        id.Validate();
        return new SnapshotWriter(this, _storage.Begin(id, cancellationToken));
    }

    /// <summary>The storage snapshot writers commit through.</summary>
    internal ISnapshotStorage Storage => _storage;

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

    /// <summary>Makes every chunk written so far durable (syncfs(2) of a local repository's filesystem; a PUT already is).</summary>
    internal void SyncFileSystem() => _storage.SyncChunks();

    /// <summary>
    /// Deletes a snapshot atomically (a local directory is renamed out of <c>snapshots/</c> first; an object store's
    /// manifest goes first). Its chunks stay until garbage collection.
    /// </summary>
    /// <exception cref="SnapshotNotFoundException">No such complete snapshot.</exception>
    /// <exception cref="SnapshotLockedException">Object Lock keeps the snapshot until its date.</exception>
    public void DeleteSnapshot(SnapshotId id)
    {
        id.Validate();
        _storage.Delete(id);
    }

    /// <summary>Closes the repository.</summary>
    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            _storage.Dispose();
        }
    }
}
