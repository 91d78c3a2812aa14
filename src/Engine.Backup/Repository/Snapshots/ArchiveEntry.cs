namespace Engine.Backup.Repository.Snapshots;

/// <summary>
/// The file-level archive of a snapshot (a container's filesystem): its catalog file in the snapshot directory lists
/// every entry and, for each regular file, the chunks of its data in the chunk store.
/// </summary>
/// <param name="Catalog">File name of the catalog inside the snapshot directory.</param>
/// <param name="CatalogChecksum">XxHash3 of the catalog (16 hex digits), as in its trailer.</param>
/// <param name="Entries">Entries of every kind.</param>
/// <param name="Files">Regular files (hard links not counted).</param>
/// <param name="Bytes">Logical size of the regular files, holes included.</param>
/// <param name="Chunking">How file data was cut, e.g. <c>fastcdc 65536/262144/1048576</c> (informational).</param>
public sealed record ArchiveEntry(string Catalog, string CatalogChecksum, long Entries, long Files, long Bytes, string Chunking);
