using System.Text.Json;
using Engine.Backup.Repository.Backends;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Formats;
using Engine.Backup.Repository.Snapshots;

namespace Engine.Backup.Repository;

/// <summary>
/// Builds one snapshot in its own directory (a local scratch directory for an object store), invisible until
/// <see cref="CommitAsync"/> writes the manifest, last (<see cref="ISnapshotStorage.CommitAsync"/>). Disposing without committing aborts: the directory is removed and the writer unregistered. While the writer
/// lives, garbage collection keeps every chunk touched since it started.
/// </summary>
internal sealed class SnapshotWriter : IAsyncDisposable
{
    private readonly BackupRepository _repository;
    private readonly SnapshotDraft _draft;
    private readonly IWriterLease _registration;
    private readonly List<DeviceEntry> _devices = [];

    // What the snapshot references, for an object store's commit (fencing, retention); a local commit needs none.
    private readonly HashSet<ChunkDigest>? _chunks;
    private ArchiveEntry? _archive;
    private bool _committed;
    private bool _disposed;

    internal SnapshotWriter(BackupRepository repository, SnapshotDraft draft)
    {
        _repository = repository;
        _draft = draft;
        _registration = draft.Lease;
        _chunks = repository.IsObjectStore ? [] : null;
        Id = draft.Id;
        Directory = draft.Directory;
        Manifest = new SnapshotManifest { Id = Id, Type = Id.Type, Vmid = Id.Vmid, Time = Id.Time };
    }

    /// <summary>The snapshot being written.</summary>
    public SnapshotId Id { get; private set; }

    /// <summary>
    /// The manifest to be committed: set <see cref="SnapshotManifest.GuestConfig"/>, <see cref="SnapshotManifest.FirewallConfig"/>,
    /// <see cref="SnapshotManifest.Parent"/>, <see cref="SnapshotManifest.Stats"/> and <see cref="SnapshotManifest.Extra"/>
    /// before committing. Id, type, vmid, time and devices are the writer's own.
    /// </summary>
    public SnapshotManifest Manifest { get; }

    /// <summary>The snapshot's working directory.</summary>
    internal string Directory { get; }

    /// <summary>When this writer registered (garbage collection keeps what was touched since).</summary>
    public DateTimeOffset Started => _registration.Start;

    /// <summary>
    /// Records a device: touches every chunk it refers to (so a concurrent garbage collection keeps them) and writes its
    /// <c>&lt;device&gt;.index</c>, with each chunk's payload checksum as its file holds it now. Every non-zero digest must
    /// already be in the store.
    /// </summary>
    /// <param name="device">The device name.</param>
    /// <param name="size">The device size in bytes.</param>
    /// <param name="chunkSize">Bytes per chunk.</param>
    /// <param name="digests">One digest per chunk.</param>
    /// <param name="bitmap">The dirty bitmap the backup was taken with, or null.</param>
    /// <param name="basedOn">
    /// The index an incremental backup built on: a chunk it shares with this one must still be the file that index
    /// recorded (or at least hold the same content), so a chunk copied over another is not carried into a new snapshot.
    /// </param>
    /// <param name="fullReason">Why a device with a bitmap was backed up in full (<see cref="DeviceEntry.FullReason"/>).</param>
    /// <exception cref="ArgumentException">Bad device name, duplicate device, or digest count not matching the size.</exception>
    /// <exception cref="ChunkMissingException">A chunk is not in the store (garbage collected, or never put).</exception>
    /// <exception cref="ChunkCorruptException">A chunk shared with <paramref name="basedOn"/> now holds other content.</exception>
    public void AddDevice(string device, long size, int chunkSize, ReadOnlySpan<ChunkDigest> digests, string? bitmap,
        DeviceIndex? basedOn = null, string? fullReason = null)
    {
        ThrowIfFinished();
        if (!BackupRepository.IsValidDeviceName(device))
        {
            throw new ArgumentException($"device name '{device}' must be letters, digits and _ . + - only", nameof(device));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(size);
        if (chunkSize <= 0 || chunkSize > ChunkStore.MaxChunkLength)
        {
            throw new ArgumentOutOfRangeException(nameof(chunkSize), chunkSize, $"chunk size must be 1 to {ChunkStore.MaxChunkLength}");
        }

        foreach (var existing in _devices)
        {
            if (existing.Name == device)
            {
                throw new ArgumentException($"device '{device}' added twice to {Id}", nameof(device));
            }
        }

        var expected = DeviceIndex.ChunkCountOf(size, chunkSize);
        if (digests.Length != expected)
        {
            throw new ArgumentException($"device {device}: {size} bytes in chunks of {chunkSize} need {expected} digests, got {digests.Length}", nameof(digests));
        }

        var known = basedOn is null ? [] : new ulong[digests.Length];
        for (var i = 0; i < known.Length && i < basedOn!.ChunkCount; i++)
        {
            known[i] = basedOn[i] == digests[i] ? basedOn.PayloadChecksum(i) : ChunkStore.UnknownPayloadChecksum;
        }

        var payloadChecksums = new ulong[digests.Length];
        if (!_repository.Chunks.TouchAll(digests, payloadChecksums, known, out var missing))
        {
            throw new ChunkMissingException(missing, _repository.Chunks.PathOf(missing));
        }

        if (_chunks is not null)
        {
            foreach (var digest in digests)
            {
                _chunks.Add(digest);
            }
        }

        var index = device + ".index";
        var checksum = DeviceIndexFile.Write(Path.Combine(Directory, index), size, chunkSize, digests, payloadChecksums);
        _devices.Add(new DeviceEntry(device, size, chunkSize, index, checksum, bitmap) { FullReason = fullReason });
    }

    /// <summary>
    /// Records the snapshot's file-level archive, whose catalog the caller has written into <see cref="Directory"/>
    /// (every chunk it names already put, which touched them, so a concurrent garbage collection keeps them).
    /// </summary>
    /// <exception cref="InvalidOperationException">An archive was already recorded.</exception>
    internal void SetArchive(ArchiveEntry archive)
    {
        ThrowIfFinished();
        if (_archive is not null)
        {
            throw new InvalidOperationException($"snapshot {Id} already has an archive");
        }

        _archive = archive;
    }

    /// <summary>
    /// Makes the snapshot durable and visible: every chunk, index and catalog written so far is made durable (a local
    /// syncfs; an object store's acknowledged PUTs), then the manifest is written, last. Returns only once the snapshot
    /// survives a power loss.
    /// </summary>
    public async Task<SnapshotManifest> CommitAsync(CancellationToken cancellationToken)
    {
        ThrowIfFinished();
        cancellationToken.ThrowIfCancellationRequested();
        Manifest.Devices = _devices.ToArray();
        Manifest.Archive = _archive;
        if (_chunks is not null && _archive is { } archive)
        {
            CatalogReader.ForEachDigest(Path.Combine(Directory, archive.Catalog), archive.CatalogChecksum, digest => _chunks.Add(digest));
        }

        Id = await _repository.Storage.CommitAsync(_draft, ManifestBytes, (IReadOnlyCollection<ChunkDigest>?)_chunks ?? [], cancellationToken).ConfigureAwait(false);
        _committed = true;
        _registration.Dispose();
        return Manifest;
    }

    /// <summary>The manifest's bytes as committed under <paramref name="id"/>.</summary>
    private byte[] ManifestBytes(SnapshotId id)
    {
        Manifest.Id = id;
        Manifest.Type = id.Type;
        Manifest.Vmid = id.Vmid;
        Manifest.Time = id.Time;
        return JsonSerializer.SerializeToUtf8Bytes(Manifest, RepositoryJsonContext.Default.SnapshotManifest);
    }

    /// <summary>Aborts unless committed: removes the snapshot directory and unregisters. Idempotent.</summary>
    public ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return ValueTask.CompletedTask;
        }

        _disposed = true;
        if (_committed)
        {
            _registration.Dispose();
        }
        else
        {
            _repository.Storage.Abort(_draft);
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Leaves everything exactly as a process killed now would: files stay, the writer lock is released, nothing is
    /// cleaned up. For crash tests.
    /// </summary>
    internal void SimulateCrash()
    {
        _disposed = true;
        _registration.Release();
    }

    private void ThrowIfFinished()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_committed)
        {
            throw new InvalidOperationException($"snapshot {Id} is already committed");
        }
    }
}
