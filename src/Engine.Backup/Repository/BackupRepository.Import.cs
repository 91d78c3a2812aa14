using System.Runtime.InteropServices;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Formats;
using Engine.Backup.Repository.Snapshots;
using Engine.Blocks.Buffers;

namespace Engine.Backup.Repository;

public sealed partial class BackupRepository
{
    /// <summary>
    /// Moves snapshot <paramref name="id"/> of the staging repository in <paramref name="stagingDirectory"/> into this
    /// one, as a snapshot of the same guest and time (the next free second when that one is taken), and returns its
    /// manifest once it is durable. The staging repository was written by a less trusted process (a container's mapped
    /// root), so nothing of it is taken on faith: every chunk file it holds is decoded and rehashed before it is stored
    /// here (a chunk whose content is not its name would poison every guest that dedups against it), index and
    /// catalog checksums are checked, and every chunk they name must then be present here. The staging repository is
    /// left as it was; the caller deletes it.
    /// </summary>
    /// <exception cref="ChunkCorruptException">A staged chunk is damaged or its content does not match its name.</exception>
    /// <exception cref="ChunkMissingException">The snapshot names a chunk neither side holds.</exception>
    /// <exception cref="RepositoryCorruptException">A staged index, catalog or manifest is damaged.</exception>
    public async Task<SnapshotManifest> ImportSnapshotAsync(string stagingDirectory, SnapshotId id, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        using var staging = Open(stagingDirectory, create: false);
        var source = staging.ReadManifest(id);

        // Registered before the first chunk arrives: garbage collection keeps everything touched from here on.
        await using var writer = BeginSnapshot(id.Type, id.Vmid, id.Time, cancellationToken);
        await Task.Run(() => ImportChunks(staging, cancellationToken), cancellationToken).ConfigureAwait(false);
        foreach (var device in source.Devices)
        {
            var index = staging.ReadIndex(id, device);
            writer.AddDevice(device.Name, index.Size, index.ChunkSize, index.Digests, device.Bitmap);
        }

        if (source.Archive is { } archive)
        {
            // Checked after the copy, so what is checked is what is kept, whatever happens to the staging side.
            var catalog = Path.Combine(writer.Directory, archive.Catalog);
            File.Copy(staging.ArchiveCatalogPath(id, archive), catalog);
            RepositoryFiles.TrySetMode(catalog, RepositoryFiles.PrivateFileMode); // the copy took the staged file's mode
            var digests = new List<ChunkDigest>();
            CatalogReader.ForEachDigest(catalog, archive.CatalogChecksum, digests.Add);
            if (!Chunks.TouchAll(CollectionsMarshal.AsSpan(digests), out var missing))
            {
                throw new ChunkMissingException(missing, Chunks.PathOf(missing));
            }

            writer.SetArchive(archive);
        }

        writer.Manifest.GuestConfig = source.GuestConfig;
        writer.Manifest.FirewallConfig = source.FirewallConfig;
        writer.Manifest.Parent = source.Parent;
        writer.Manifest.Stats = source.Stats;
        foreach (var (key, value) in source.Extra)
        {
            writer.Manifest.Extra[key] = value;
        }

        return await writer.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    private void ImportChunks(BackupRepository staging, CancellationToken cancellationToken)
    {
        using var buffer = BufferPool.Shared.Rent(ChunkStore.MaxChunkLength);
        foreach (var file in System.IO.Directory.EnumerateFiles(staging.LocalChunks.Directory, "*", SearchOption.AllDirectories))
        {
            cancellationToken.ThrowIfCancellationRequested();

            // Only files where a chunk of that name belongs; anything else (a lock file, a stray) is not content.
            if (!ChunkDigest.TryParse(Path.GetFileName(file), out var digest) || digest.IsZero || file != staging.LocalChunks.PathOf(digest))
            {
                continue;
            }

            // Read by its SHA-256 alone, so the content is rehashed: a file that is not its name fails here.
            var length = staging.LocalChunks.Read(digest, buffer.Span);
            LocalChunks.Put(digest, buffer.Span[..length]);
        }
    }
}
