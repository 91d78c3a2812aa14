using System.Globalization;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Formats;
using Engine.Backup.Repository.Snapshots;

namespace Engine.Backup.Containers.Archive;

/// <summary>
/// The catalog a container backup compares the tree with, or why there is none. Never fails the backup: without a
/// usable reference every file is read, as before change detection existed.
/// </summary>
internal sealed class ReferenceCatalog
{
    private readonly string _description;

    private ReferenceCatalog(Catalog? catalog, string description)
    {
        Catalog = catalog;
        _description = description;
    }

    /// <summary>The reference's catalog; null when every file is read.</summary>
    public Catalog? Catalog { get; }

    /// <summary>The reference the request names or implies (the guest's newest snapshot), unless it asks to read everything.</summary>
    public static ReferenceCatalog Load(BackupRepository repository, ContainerBackupRequest request)
    {
        if (request.FullRead)
        {
            return new ReferenceCatalog(null, "none: full read requested");
        }

        var source = request.BaseRepository ?? repository;
        SnapshotId id;
        try
        {
            if (request.Base is { } named)
            {
                id = named;
            }
            else if (source.FindLatest("ct", request.Vmid) is { } latest)
            {
                id = latest.Id;
            }
            else
            {
                return new ReferenceCatalog(null, "none: the guest's first backup");
            }

            var archive = source.ReadManifest(id).Archive;
            if (archive is null)
            {
                return new ReferenceCatalog(null, $"none: {id} holds no container archive");
            }

            var catalog = CatalogReader.Read(source.ArchiveCatalogPath(id, archive), archive.CatalogChecksum);
            return catalog.Version == CatalogFormat.VersionBackToBack
                ? new ReferenceCatalog(null, $"none: {id}'s catalog (version {catalog.Version}) records no inodes and ctimes, so every file was read")
                : new ReferenceCatalog(catalog, id.ToString());
        }
        catch (Exception e) when (e is RepositoryException or IOException or UnauthorizedAccessException)
        {
            return new ReferenceCatalog(null, $"none: the reference is unreadable ({e.Message}), so every file was read");
        }
    }

    /// <summary>What manifest extra <c>ct.reference</c> says: the reference and what it saved.</summary>
    public string Describe(ReferenceReuse? reuse) => reuse is null
        ? _description
        : string.Create(CultureInfo.InvariantCulture,
            $"{_description}: {reuse.FilesReused} files ({reuse.BytesReused} bytes) reused unread, {reuse.FilesReadAnyway} unchanged files read to keep the stream compact");
}
